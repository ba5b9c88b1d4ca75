"""Data-parallel training across processes, on MPI through mpi4py.

Every process (an MPI *rank*) holds the whole network and the whole
training set, and every rank shuffles with the same seeded generator, so
all ranks see the same global batches in the same order. For each global
batch of B examples, rank r takes its contiguous share of the columns,
[start_r, stop_r), computes the gradient of the mean loss over that share,
and weights it by n_r / B. Summed over the ranks, these weighted
gradients are the gradient of the mean loss over the whole batch:

    ∂ℓ/∂θ = Σ_r (n_r / B) ∂ℓ_r/∂θ,    ℓ_r = (1/n_r) Σ_{i in rank r} ℓ_i

One in-place ``Allreduce`` of the flat gradient buffer forms that sum on
every rank, every rank then applies the same optimizer update, and the
parameters stay the same everywhere.

Without mpi4py, or when the program was not started by an MPI launcher,
``world()`` returns a single-process stand-in and nothing changes.

Notes
-----
The result does not depend on the number of ranks P up to rounding: the
Allreduce adds the P partial gradients in an order that depends on P, so
two runs with different P agree to rounding, not bit for bit: after a
short training run the parameters differ by a relative 1e-16 to 1e-15 in
float64 and 1e-7 in float32 (the tests allow 1e-12 and 1e-5). Runs with
the same P are bit-for-bit repeatable, and within a job every rank holds
the same parameters bit for bit.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
import traceback
from typing import NamedTuple

import numpy as np

from .arrays import is_numpy
from .training.step import TrainingStep

# Environment variables that MPI launchers set in every rank they start:
# Open MPI's mpiexec, PMIx launchers (Open MPI 5, Slurm's srun with
# --mpi=pmix), and PMI launchers (MPICH's Hydra, Intel MPI, srun with PMI).
LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK")


class World(NamedTuple):
    """This process's place among the processes of the job.

    Attributes
    ----------
    comm : mpi4py.MPI.Intracomm or SingleProcess
        The communicator that spans every rank.
    rank : int
        This process's number, 0 … size − 1; rank 0 is the root.
    size : int
        P, the number of processes.
    """

    comm: object
    rank: int
    size: int


class SingleProcess:
    """A stand-in for an MPI communicator when there is one process.

    It has the few methods chainrule calls on a communicator, with their
    single-process meaning, under mpi4py's names (hence the capitals).
    """

    def Get_rank(self):  # noqa: N802
        return 0

    def Get_size(self):  # noqa: N802
        return 1

    def Barrier(self):  # noqa: N802
        return None

    def Abort(self, errorcode=1):  # noqa: N802
        raise SystemExit(errorcode)


def launched_under_mpi(environ=None):
    """True when an MPI launcher (mpiexec, srun) started this process.

    Parameters
    ----------
    environ : mapping, optional
        The environment to inspect; default ``os.environ``.
    """
    environ = os.environ if environ is None else environ
    return any(name in environ for name in LAUNCHER_VARIABLES)


@functools.cache
def world():
    """Return this process's ``World``: (comm, rank, size).

    mpi4py is imported, and MPI started, only when an MPI launcher started
    this process or the program already imported ``mpi4py.MPI`` itself.
    Otherwise the result is ``World(SingleProcess(), 0, 1)``: a plain
    ``python`` or ``chainrule`` run never pays MPI's start-up time and
    never opens its network sockets.

    Raises
    ------
    ImportError
        When an MPI launcher started this process but mpi4py is not
        installed: every rank would otherwise train alone and write the
        same files.
    """
    if "mpi4py.MPI" not in sys.modules and not launched_under_mpi():
        return World(SingleProcess(), 0, 1)
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(
            "this process was started by an MPI launcher but mpi4py is not "
            "installed; install it with `pip install chainrule[mpi]`, or "
            "run without mpiexec for a single process"
        ) from None
    comm = MPI.COMM_WORLD
    return World(comm, comm.Get_rank(), comm.Get_size())


def is_root():
    """True on rank 0, the one process that prints and writes files."""
    return world().rank == 0


def split(n_examples, size, rank):
    """Return rank ``rank``'s share [start, stop) of ``n_examples``.

    The shares are contiguous, in rank order, and as even as possible: the
    first n_examples mod size ranks get one example more. A rank's share
    is empty when there are fewer examples than ranks.

    Parameters
    ----------
    n_examples : int
        B, the global batch size.
    size : int
        P, the number of ranks.
    rank : int
        0 … P − 1.

    Returns
    -------
    (int, int)
        start and stop, with 0 ≤ start ≤ stop ≤ n_examples.
    """
    if size < 1 or not 0 <= rank < size:
        raise ValueError(
            f"rank must lie in 0 … size − 1 with size ≥ 1; got rank {rank} "
            f"of size {size}"
        )
    if n_examples < 0:
        raise ValueError(f"n_examples must be ≥ 0, got {n_examples}")
    base, extra = divmod(n_examples, size)
    start = rank * base + min(rank, extra)
    stop = start + base + (1 if rank < extra else 0)
    return start, stop


class DataParallelStep:
    """A ``TrainingStep`` that shares each batch among the MPI ranks.

    Called with the global batch, it computes this rank's share of the
    gradient, sums the shares of all ranks with one in-place Allreduce of
    the flat buffer, and returns the mean loss over the global batch. Pass
    it as ``step=`` to ``chainrule.training.train``; every rank must make
    the same calls with the same global batches.

    Parameters
    ----------
    network : Network
        The same network (same initial parameters) on every rank.
    loss : a loss from ``chainrule.losses``
    comm : mpi4py communicator or SingleProcess, optional
        Default ``world().comm``.

    Attributes
    ----------
    gradient : 1-D array
        The global batch's flat gradient, laid out like
        ``network.parameters``; the same on every rank after each call.
    grad_omega, grad_beta : lists of arrays
        ∂ℓ/∂Ω_k and ∂ℓ/∂β_k as views into ``gradient``.
    rank, size : int
    compute_seconds, allreduce_seconds : float
        Time spent so far computing this rank's share (forward, backward,
        weighting) and in the all-reduce (which includes waiting for the
        slowest rank).
    n_calls : int

    Notes
    -----
    With one process no communication happens and the step computes
    exactly what ``TrainingStep`` computes, bit for bit.
    """

    def __init__(self, network, loss, comm=None):
        self.comm = world().comm if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        if self.size > 1 and not is_numpy(network.xp):
            raise TypeError(
                "data-parallel training across processes needs a network "
                f"with NumPy parameters; got {type(network.parameters).__name__}"
                "; build the network with NumPy arrays"
            )
        self.network = network
        self.loss = loss
        self.local = TrainingStep(network, loss)
        self.gradient = self.local.gradient
        self.grad_omega = self.local.grad_omega
        self.grad_beta = self.local.grad_beta
        self._loss_buffer = np.zeros(1, np.float64)
        self.compute_seconds = 0.0
        self.allreduce_seconds = 0.0
        self.n_calls = 0

    def __call__(self, x, y):
        """Return the mean loss over the global batch; fill ``gradient``.

        Parameters
        ----------
        x : array of shape (D_i, B)
            The global batch, one column per example; the same on every
            rank.
        y : array
            The global batch's targets in the loss's layout: (B,) labels
            or (D_o, B).
        """
        started = time.perf_counter()
        value = self.local_share(x, y)
        self.n_calls += 1
        if self.size == 1:
            self.compute_seconds += time.perf_counter() - started
            return value

        # Σ_r over the ranks: the loss in flight while the gradient's
        # one in-place Allreduce runs.
        from mpi4py import MPI

        reduced = time.perf_counter()
        self.compute_seconds += reduced - started
        self._loss_buffer[0] = value
        request = self.comm.Iallreduce(MPI.IN_PLACE, self._loss_buffer, op=MPI.SUM)
        self.comm.Allreduce(MPI.IN_PLACE, self.gradient, op=MPI.SUM)
        request.Wait()
        self.allreduce_seconds += time.perf_counter() - reduced
        return float(self._loss_buffer[0])

    def local_share(self, x, y):
        """Compute this rank's weighted share alone, without communicating.

        Fills ``gradient`` with (n_r / B) ∂ℓ_r/∂θ and returns (n_r / B) ℓ_r,
        where ℓ_r is the mean loss over this rank's n_r columns of the
        global batch of B; zero for an empty share. Summed over the ranks,
        these are the global batch's gradient and mean loss.
        """
        n_global = x.shape[1]
        start, stop = split(n_global, self.size, self.rank)
        n_local = stop - start
        if n_local == 0:
            self.gradient[...] = 0
            return 0.0
        value = self.local(x[:, start:stop], y[..., start:stop])
        if n_local != n_global:
            weight = n_local / n_global
            self.gradient *= self.gradient.dtype.type(weight)
            value *= weight
        return value


def broadcast_parameters(network, comm=None, root=0):
    """Copy the root's parameters into every rank's network, in place.

    Ranks that initialize from the same seed already agree; this makes
    sure of it, e.g. after loading a model file on the root only.
    """
    comm = world().comm if comm is None else comm
    if comm.Get_size() > 1:
        comm.Bcast(network.parameters, root=root)


def parameters_agree(network, comm=None):
    """True when every rank's parameters equal the root's, bit for bit.

    A collective call: every rank must make it. Every rank gets the same
    answer.
    """
    comm = world().comm if comm is None else comm
    if comm.Get_size() == 1:
        return True
    reference = np.array(network.parameters, copy=True)
    comm.Bcast(reference, root=0)
    same = bool(np.array_equal(reference, network.parameters))
    from mpi4py import MPI

    return comm.allreduce(same, op=MPI.LAND)


class RanksStopError(Exception):
    """Every rank of the job stops here, together, with ``status``.

    Raised on every rank at the same point of the program, after the
    ranks agreed on it (see ``start_together`` and ``agreed_flag``), so
    that no rank is left waiting in a collective call: the job can end
    without ``MPI_Abort`` (see ``end_together``).

    Attributes
    ----------
    status : int
        The exit status every rank ends with.
    message : str or None
        What went wrong, for rank 0 alone to report.
    """

    def __init__(self, status, message=None):
        super().__init__(message or f"every rank stops with status {status}")
        self.status = status
        self.message = message


@contextlib.contextmanager
def start_together(status_of, comm=None):
    """Run a block on every rank, then agree whether any rank failed in it.

    Wrap the preparation every rank does before its first collective call
    (reading options and data, checking files). At the end of the block,
    failed or not, the ranks exchange their outcome in one ``allgather``;
    when any rank failed, every rank raises the same ``RanksStopError``, with
    the status and message of the lowest failing rank. With one process
    nothing is exchanged and an error propagates unchanged.

    Parameters
    ----------
    status_of : callable(Exception) → (int, str) or None
        The exit status and one-line message for an error that ends the
        program in an orderly way; None for any other (a bug), which
        propagates at once on its rank and ends the job as an uncaught
        exception does (``MPI_Abort``).
    comm : mpi4py communicator or SingleProcess, optional
        Default ``world().comm``.

    Raises
    ------
    RanksStopError
        On every rank, when one or more ranks failed in the block. Its
        message names the failing rank when that is not rank 0.
    """
    comm = world().comm if comm is None else comm
    size = comm.Get_size()
    failure = None
    try:
        yield
    except Exception as error:
        outcome = status_of(error)
        if outcome is None or size == 1:
            raise
        failure = error
    else:
        if size == 1:
            return
        outcome = None
    outcomes = comm.allgather(outcome)
    failed = [(rank, found) for rank, found in enumerate(outcomes) if found]
    if not failed:
        return
    rank, (status, message) = failed[0]
    if rank != 0:
        message = f"{describe((None, rank, size))}: {message}"
    raise RanksStopError(status, message) from failure


def agreed_flag(local_flag, comm=None):
    """Return a function that every rank calls at the same point, and that
    answers True on every rank as soon as ``local_flag()`` is True on any.

    For a stop request (Ctrl-C, SIGTERM) that reaches the ranks at
    slightly different moments: checked at each step boundary, it makes
    every rank stop after the same step. Each call is one small
    ``allreduce`` when there is more than one rank, none otherwise.
    """
    comm = world().comm if comm is None else comm
    if comm.Get_size() == 1:
        return local_flag
    from mpi4py import MPI

    def flag():
        return bool(comm.allreduce(bool(local_flag()), op=MPI.LOR))

    return flag


def end_together(status, comm=None):
    """Finalize MPI on a rank that ends with ``status`` along with all others.

    Call it on every rank when all of them end with the same non-zero
    status at once (after a ``RanksStopError``). ``python -m mpi4py`` turns a
    non-zero exit into ``MPI_Abort``, whose banner reports an abort where
    there was none; once MPI is finalized, the rank just exits with
    ``status``. Returns ``status``.
    """
    comm = world().comm if comm is None else comm
    if status in (0, None) or comm.Get_size() == 1:
        return status
    from mpi4py import MPI

    if not MPI.Is_finalized():
        MPI.Finalize()
    return status


def describe(where=None):
    """Return "rank r of P", naming this process in messages."""
    rank, size = (where or world())[1:]
    return f"rank {rank} of {size}"


def abort_on_failure(status, message=None, stream=None):
    """End the whole MPI job when this rank is about to exit with ``status``.

    Call it with the exit status a rank is about to return. When the job
    has more than one rank and ``status`` is not 0, it writes one line
    naming the rank, and ``message`` when given, to ``stream`` (default
    standard error) and calls ``MPI_Abort``, which ends every rank at
    once: the other ranks may be waiting in an all-reduce this rank will
    never join. Otherwise it returns ``status``.
    """
    where = world()
    if status in (0, None) or where.size == 1:
        return status
    if isinstance(status, str):
        # sys.exit("text") prints the text and exits with status 1.
        message, status = status, 1
    stream = sys.stderr if stream is None else stream
    reason = f": {message}" if message else ""
    print(
        f"chainrule: {describe(where)} failed with exit status {status}"
        f"{reason}; ending all ranks",
        file=stream,
        flush=True,
    )
    where.comm.Abort(status if isinstance(status, int) else 1)
    return status


def call_or_abort(function, *args, **kwargs):
    """Call ``function``; if it fails on any rank, end the whole job.

    Wrap a program's main function in it. A rank that raises, calls
    ``sys.exit`` with a non-zero status, or returns a non-zero status
    reports its rank and reason and calls ``MPI_Abort``; without this, the
    other ranks would wait forever in the next all-reduce, and a plain
    ``sys.exit`` would wait forever in ``MPI_Finalize``. With one process
    it is a plain call.

    Returns
    -------
    What ``function`` returns.
    """
    try:
        status = function(*args, **kwargs)
    except SystemExit as stop:
        abort_on_failure(stop.code, "it called sys.exit")
        raise
    except BaseException as error:
        if world().size > 1:
            traceback.print_exc(file=sys.stderr)
        abort_on_failure(1, f"{type(error).__name__}: {error}")
        raise
    return abort_on_failure(status)


def install_excepthook():
    """Make an uncaught exception on any rank end the whole job at once.

    The hook prints the traceback and a line naming the rank and the
    exception, then calls ``MPI_Abort``, so the other ranks never hang in
    an all-reduce. With one process the usual hook is kept. Starting the
    ranks as ``python -m mpi4py …`` aborts on an uncaught exception too;
    this hook covers ranks started without it and names the rank.
    """
    if world().size == 1:
        return
    previous = sys.excepthook

    def hook(kind, error, trace):
        traceback.print_exception(kind, error, trace, file=sys.stderr)
        abort_on_failure(1, f"{kind.__name__}: {error}")
        previous(kind, error, trace)

    sys.excepthook = hook
