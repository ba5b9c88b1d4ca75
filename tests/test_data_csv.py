"""CSV files: header detection, labels, tasks, and every bad-input message."""

import numpy as np
import pytest

from chainrule.data import DataError, load_dataset


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path, **options):
    with pytest.raises(DataError) as caught:
        load_dataset(path, **options)
    message = str(caught.value)
    assert "\n" not in message
    return message


# ---- reading -------------------------------------------------------------


def test_no_header_last_column_is_label(tmp_path):
    path = write(tmp_path, "1,2,0\n3,4,1\n5,6,0\n7,8,1\n")
    data = load_dataset(path, test_fraction=0)
    assert data.task == "classification"
    assert data.classes == [0, 1]
    assert data.feature_names is None
    np.testing.assert_array_equal(data.x_train, [[1, 2], [3, 4], [5, 6], [7, 8]])
    np.testing.assert_array_equal(data.y_train, [0, 1, 0, 1])
    assert data.x_train.dtype == np.float64
    assert data.y_train.dtype == np.int64
    assert data.x_test is None and data.y_test is None
    assert data.name == "data"
    assert data.source == str(path)
    assert data.n_features == 2


def test_header_detected_and_names_kept(tmp_path):
    path = write(tmp_path, "width,height,kind\n1,2,a\n3,4,b\n")
    data = load_dataset(path, test_fraction=0)
    assert data.feature_names == ["width", "height"]
    assert data.label_names == ["kind"]
    assert data.n_train == 2


def test_text_label_in_first_row_is_not_a_header(tmp_path):
    # Only feature cells decide: "cat" in the label column is a label.
    path = write(tmp_path, "1,2,cat\n3,4,dog\n")
    data = load_dataset(path, test_fraction=0)
    assert data.feature_names is None
    assert data.n_train == 2
    assert data.classes == ["cat", "dog"]


def test_string_labels_map_to_sorted_ids(tmp_path):
    path = write(tmp_path, "1,zebra\n2,ant\n3,moth\n4, ant \n")
    data = load_dataset(path, test_fraction=0)
    assert data.classes == ["ant", "moth", "zebra"]
    np.testing.assert_array_equal(data.y_train, [2, 0, 1, 0])


def test_integer_labels_sort_numerically(tmp_path):
    path = write(tmp_path, "1,10\n2,9\n3,-1\n4,09\n")
    data = load_dataset(path, test_fraction=0)
    assert data.classes == [-1, 9, 10]
    np.testing.assert_array_equal(data.y_train, [2, 1, 0, 1])


def test_real_labels_are_regression(tmp_path):
    path = write(tmp_path, "1,0.5\n2,1.5\n3,2\n")
    data = load_dataset(path, test_fraction=0)
    assert data.task == "regression"
    assert data.classes is None
    assert data.y_train.shape == (3, 1)
    assert data.y_train.dtype == np.float64
    np.testing.assert_array_equal(data.y_train[:, 0], [0.5, 1.5, 2.0])


def test_several_01_columns_are_multilabel(tmp_path):
    path = write(tmp_path, "f,a,b\n0.1,1,0\n0.2,0,0\n0.3,1,1\n")
    data = load_dataset(path, label_columns=[1, 2], test_fraction=0)
    assert data.task == "multilabel"
    assert data.y_train.shape == (3, 2)
    assert data.y_train.dtype == np.float64
    np.testing.assert_array_equal(data.y_train, [[1, 0], [0, 0], [1, 1]])
    assert data.feature_names == ["f"]
    assert data.n_outputs == 2


def test_several_real_columns_are_regression(tmp_path):
    path = write(tmp_path, "1,0.5,2\n2,1.5,3\n")
    data = load_dataset(path, label_columns=[-2, -1], test_fraction=0)
    assert data.task == "regression"
    assert data.y_train.shape == (2, 2)


def test_label_column_by_name_and_negative_index(tmp_path):
    path = write(tmp_path, "kind,x1,x2\na,1,2\nb,3,4\n")
    by_name = load_dataset(path, label_columns="kind", test_fraction=0)
    by_index = load_dataset(path, label_columns=-3, test_fraction=0)
    for data in (by_name, by_index):
        assert data.classes == ["a", "b"]
        np.testing.assert_array_equal(data.x_train, [[1, 2], [3, 4]])


def test_task_override(tmp_path):
    path = write(tmp_path, "1,3\n2,4\n3,5\n")
    data = load_dataset(path, task="regression", test_fraction=0)
    assert data.task == "regression"
    np.testing.assert_array_equal(data.y_train[:, 0], [3, 4, 5])


def test_blank_lines_skipped_and_line_numbers_kept(tmp_path):
    path = write(tmp_path, "a,b\n\n1,x\n\n2,y\n")
    data = load_dataset(path, test_fraction=0)
    assert data.n_train == 2
    np.testing.assert_array_equal(data.train_origin, [3, 5])


def test_byte_order_mark_is_ignored(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffa,label\n1,x\n2,y\n".encode())
    data = load_dataset(path, test_fraction=0)
    assert data.feature_names == ["a"]


def test_split_is_stratified_and_seeded(tmp_path):
    lines = [f"{i},{'abc'[i % 3]}" for i in range(30)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    data = load_dataset(path, test_fraction=0.2, seed=3)
    again = load_dataset(path, test_fraction=0.2, seed=3)
    other = load_dataset(path, test_fraction=0.2, seed=4)
    assert data.n_train == 24 and data.n_test == 6
    np.testing.assert_array_equal(np.bincount(data.y_test), [2, 2, 2])
    np.testing.assert_array_equal(data.x_test, again.x_test)
    assert not np.array_equal(data.x_test, other.x_test)
    # Every example lands in exactly one part.
    everything = np.sort(np.concatenate([data.x_train, data.x_test])[:, 0])
    np.testing.assert_array_equal(everything, np.arange(30))


def test_class_with_one_example_falls_back_to_plain_split(tmp_path):
    lines = [f"{i},a" for i in range(9)] + ["9,b"]
    path = write(tmp_path, "\n".join(lines) + "\n")
    data = load_dataset(path, test_fraction=0.3)
    assert data.n_train + data.n_test == 10
    assert data.classes == ["a", "b"]


def test_line_numbers_follow_the_split(tmp_path):
    path = write(tmp_path, "h,label\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))
    data = load_dataset(path, test_fraction=0.5, seed=0)
    # Line n holds the feature value n - 2.
    np.testing.assert_array_equal(data.train_origin - 2, data.x_train[:, 0])
    np.testing.assert_array_equal(data.test_origin - 2, data.x_test[:, 0])
    assert data.where("test", 0) == f"{path}, line {data.test_origin[0]}"


# ---- bad input -------------------------------------------------------------


def test_cell_not_a_number_names_line_and_column(tmp_path):
    path = write(tmp_path, "a,b,label\n1,2,x\n3,oops,y\n")
    message = load_error(path)
    assert message.startswith(f"{path}, line 3, column 2 ('b'):")
    assert "'oops'" in message and "expected a number" in message


def test_cell_not_a_number_without_header(tmp_path):
    path = write(tmp_path, "1,2,0\n3,4,1\n5,6;7,0\n")
    message = load_error(path)
    assert message.startswith(f"{path}, line 3, column 2:")
    assert "'6;7'" in message


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-Infinity", "1e999"])
def test_nan_and_infinity_in_features(tmp_path, bad):
    path = write(tmp_path, f"1,2,0\n3,{bad},1\n")
    message = load_error(path)
    assert message.startswith(f"{path}, line 2, column 2:")
    assert repr(bad) in message and "finite" in message


def test_nan_in_real_targets(tmp_path):
    path = write(tmp_path, "1,0.5\n2,nan\n")
    message = load_error(path)
    assert message.startswith(f"{path}, line 2, column 2:")
    assert "'nan'" in message and "finite" in message


def test_missing_feature_cell(tmp_path):
    path = write(tmp_path, "a,b,c\n1,,0\n")
    message = load_error(path)
    assert message.startswith(f"{path}, line 2, column 2 ('b'): missing value")


def test_missing_label_cell(tmp_path):
    path = write(tmp_path, "1,2,0\n3,4,\n")
    message = load_error(path)
    assert message.startswith(f"{path}, line 2, column 3: missing value")


def test_ragged_row_says_expected_and_found(tmp_path):
    path = write(tmp_path, "1,2,0\n3,4,1\n5,6\n")
    message = load_error(path)
    assert message == f"{path}, line 3: expected 3 cells (as in line 1), found 2"


def test_empty_file(tmp_path):
    path = write(tmp_path, "")
    assert "the file is empty" in load_error(path)
    blank = write(tmp_path, "\n\n  \n", name="blank.csv")
    assert load_error(blank).startswith(f"{blank}: the file is empty")


def test_header_only(tmp_path):
    path = write(tmp_path, "a,b,label\n")
    message = load_error(path)
    assert message.startswith(f"{path}: the file has a header row (line 1)")
    assert "no data rows" in message


def test_unknown_label_column_name(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n")
    message = load_error(path, label_columns="c")
    assert "no column named 'c'" in message and "'a', 'b'" in message


def test_label_column_out_of_range(tmp_path):
    path = write(tmp_path, "1,2\n3,4\n")
    message = load_error(path, label_columns=5)
    assert "label column 5 is out of range" in message and "2 columns" in message


def test_only_a_label_column(tmp_path):
    path = write(tmp_path, "1\n2\n")
    assert "at least one feature column" in load_error(path)


def test_text_in_regression_targets(tmp_path):
    path = write(tmp_path, "1,0.5\n2,abc\n")
    message = load_error(path, task="regression")
    assert message.startswith(f"{path}, line 2, column 2:")
    assert "'abc'" in message and "not a number" in message


def test_multilabel_value_not_01(tmp_path):
    path = write(tmp_path, "1,0,1\n2,2,0\n")
    message = load_error(path, label_columns=[1, 2], task="multilabel")
    assert message.startswith(f"{path}, line 2, column 2:")
    assert "not 0 or 1" in message


def test_classification_with_several_columns(tmp_path):
    path = write(tmp_path, "1,0,1\n2,1,0\n")
    message = load_error(path, label_columns=[1, 2], task="classification")
    assert "one label column" in message


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"1,2,caf\xe9\n")
    assert "not UTF-8" in load_error(path)


def test_too_few_rows_to_split(tmp_path):
    path = write(tmp_path, "1,0\n")
    message = load_error(path, test_fraction=0.2)
    assert "too few to split" in message and "test_fraction=0" in message
    assert load_dataset(path, test_fraction=0).n_train == 1


def test_line_numbers_count_multiline_quoted_cells(tmp_path):
    path = write(tmp_path, 'x,label\n1,"two\nlines"\n2,b\nq,c\n')
    message = load_error(path)
    assert message.startswith(f"{path}, line 5, column 1 ('x'): expected a number")


def test_label_columns_in_the_middle(tmp_path):
    path = write(tmp_path, "1,a,2,3\n4,b,5,6\n")
    data = load_dataset(path, label_columns=1, test_fraction=0)
    np.testing.assert_array_equal(data.x_train, [[1, 2, 3], [4, 5, 6]])
    assert data.classes == ["a", "b"]
    bad = write(tmp_path, "1,a,2,3\n4,b,x,6\n", name="bad.csv")
    assert load_error(bad, label_columns=1).startswith(f"{bad}, line 2, column 3:")


def test_label_column_given_twice(tmp_path):
    path = write(tmp_path, "1,2,3\n4,5,6\n")
    assert "name a column twice" in load_error(path, label_columns=[2, -1])


def test_huge_integer_labels_stay_exact(tmp_path):
    path = write(tmp_path, "1,12345678901234567891\n2,12345678901234567890\n")
    data = load_dataset(path, test_fraction=0)
    assert data.classes == ["12345678901234567890", "12345678901234567891"]
    np.testing.assert_array_equal(data.y_train, [1, 0])


# ---- numbers float() reads too leniently -----------------------------------


@pytest.mark.parametrize("bad", ["1_000", "1e_3", "１２"])
def test_underscores_and_non_ascii_digits_are_not_numbers(tmp_path, bad):
    # float() reads "1_000" as 1000 and full-width "１２" as 12.
    path = write(tmp_path, f"a,b,y\n1,2,0\n3,{bad},1\n5,6,0\n")
    message = load_error(path)
    assert message.startswith(f"{path}, line 3, column 2 ('b'):")
    assert f"expected a number, found {bad!r}" in message


def test_underscore_in_first_row_is_a_bad_number_not_a_header(tmp_path):
    path = write(tmp_path, "1_000,2,0\n3,4,1\n5,6,0\n")
    message = load_error(path)
    assert message.startswith(f"{path}, line 1, column 1:")
    assert "'1_000'" in message and "'_'" in message


def test_underscore_in_a_label_is_not_a_number(tmp_path):
    path = write(tmp_path, "1,0.5\n2,1_000.5\n3,2.5\n")
    message = load_error(path, task="regression")
    assert message.startswith(f"{path}, line 2, column 2:")
    assert "'1_000.5' is not a number" in message


def test_non_breaking_space_around_a_number_is_read(tmp_path):
    path = write(tmp_path, "1,2,0\n3,4\u00a0,1\n")
    data = load_dataset(path, test_fraction=0)
    np.testing.assert_array_equal(data.x_train, [[1, 2], [3, 4]])


# ---- headers whose feature names are numbers -------------------------------


def test_numeric_feature_names_with_text_label_name_are_a_header(tmp_path):
    # "0,1,2,target": every feature name is a number, the label name is
    # the only text in an integer label column.
    rows = "".join(f"{i},{i + 1},{i + 2},{i % 3}\n" for i in range(6))
    path = write(tmp_path, "0,1,2,target\n" + rows)
    data = load_dataset(path, test_fraction=0)
    assert data.n_train == 6
    assert data.classes == [0, 1, 2]
    assert data.feature_names == ["0", "1", "2"]
    assert data.label_names == ["target"]


def test_numeric_header_above_class_names_is_a_header(tmp_path):
    path = write(tmp_path, "0,1,2\n1,2,cat\n3,4,dog\n5,6,cat\n")
    data = load_dataset(path, test_fraction=0)
    assert data.n_train == 3
    assert data.classes == ["cat", "dog"]
    assert data.feature_names == ["0", "1"]


def test_numeric_header_with_one_data_row(tmp_path):
    path = write(tmp_path, "0,1,target\n5,6,1\n")
    data = load_dataset(path, test_fraction=0, task="regression")
    assert data.n_train == 1
    assert data.label_names == ["target"]


# ---- suspicious class labels -----------------------------------------------


def integer_rows(n_rows, odd_line=None, odd="oops"):
    # n_rows "x1,x2,label" lines with labels 0, 1, 2; line odd_line
    # (1-based) gets the label ``odd`` instead.
    lines = []
    for i in range(n_rows):
        label = odd if i + 1 == odd_line else i % 3
        lines.append(f"{i},{2 * i},{label}\n")
    return "".join(lines)


def test_one_text_label_among_integers_is_refused(tmp_path):
    path = write(tmp_path, integer_rows(41, odd_line=21))
    message = load_error(path)
    assert message.startswith(f"{path}, line 21, column 3: label 'oops' is text")
    assert "40 of the 41 labels" in message and "integers" in message


def test_one_text_label_is_refused_with_task_classification(tmp_path):
    path = write(tmp_path, integer_rows(10, odd_line=4, odd="NA"))
    message = load_error(path, task="classification")
    assert message.startswith(f"{path}, line 4, column 3: label 'NA' is text")


def test_names_with_a_few_numeric_names_stay_classes(tmp_path):
    # Mostly names: every label is read as a name, "3" included.
    labels = ["cat", "dog", "3", "cat", "dog", "3", "cat", "dog"]
    text = "".join(f"{i},{label}\n" for i, label in enumerate(labels))
    data = load_dataset(write(tmp_path, text), test_fraction=0)
    assert data.classes == ["3", "cat", "dog"]


def test_real_labels_are_refused_as_classes(tmp_path):
    path = write(tmp_path, "1,0\n2,1\n3,2.5\n4,3\n")
    message = load_error(path, task="classification")
    assert message.startswith(f"{path}, line 3, column 2: label '2.5' is not")
    assert "whole number" in message


def test_integer_valued_reals_are_classes(tmp_path):
    path = write(tmp_path, "1,0.0\n2,1.0\n3,2e0\n4,1\n")
    data = load_dataset(path, task="classification", test_fraction=0)
    assert data.classes == [0, 1, 2]


@pytest.mark.parametrize("separator, name", [(";", "';'"), ("\t", "a tab")])
def test_other_separator_is_named(tmp_path, separator, name):
    text = "".join(separator.join(["1", "2", "0"]) + "\n" for _ in range(3))
    message = load_error(write(tmp_path, text))
    assert message == (
        f"{tmp_path / 'data.csv'}, line 1: one column that holds {name}; "
        "chainrule reads comma-separated files: write ',' between cells"
    )


def test_decimal_commas_with_semicolons_get_a_hint(tmp_path):
    path = write(tmp_path, "a,b,y\n1,5;2,5;0\n")
    message = load_error(path)
    assert "found '5;2'" in message and "reads comma-separated files" in message


@pytest.mark.parametrize("name", ["", "  "])
def test_empty_data_name(name):
    with pytest.raises(DataError) as caught:
        load_dataset(name)
    assert str(caught.value).startswith(f"the data name is empty ({name!r})")
