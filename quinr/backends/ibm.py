"""IBM devices through qiskit-ibm-runtime (driver ``ibm_runtime``; the ``qiskit`` family's device
target): a fake backend offline, or a real one.

* ``fake_device=FakeTorino`` (any class of ``qiskit_ibm_runtime.fake_provider``): the runtime
  SamplerV2 in local testing mode on the device's calibration snapshot. This is the same PUB code
  path as real hardware, up to the network; its jobs live in this process.
* ``ibm_backend=ibm_torino``: a real device through ``QiskitRuntimeService``, one SamplerV2 job
  (job mode, a PUB with a parameter array) per chunk, tagged with the run and chunk. Jobs are
  collected by id (``service.job(id)``), so a resumed decode fetches a job submitted before a
  crash instead of paying for it again. Fails fast without a saved account.

The circuit is the noise-free lowering (:func:`quinr.circuit.lower`), transpiled once per network
for the device with h and theta as parameters (deterministically, ``seed_transpiler=0``;
:mod:`quinr.backends.device_model`); the device brings its own noise.
"""

from __future__ import annotations

import numpy as np

from ..circuit import CircuitSpec
from ..errors import BackendError, MissingSDKError, NoDeviceModel, TaskFailedError
from ..noise import NoiseSpec
from .aer import QISKIT_OPTIONS, _import_qiskit
from .base import Driver, ExecutionReport, task_chunks
from .device_model import Transpiled, fake_device, fake_model, ibm_model, snapshot_of, transpile_for
from .options import Option


class IBMRuntimeDriver(Driver):
    OPTIONS = {
        **QISKIT_OPTIONS,
        "dynamical_decoupling": Option(str, "real IBM devices: the runtime's dynamical decoupling sequence on idle "
                                       "qubits (no extra circuits or shots)", choices=("XX", "XpXm", "XY4")),
        "twirling": Option(bool, "real IBM devices: the runtime's Pauli twirling of gates and measurements (the "
                           "shots are split over randomizations: no extra shots)"),
    }
    REMOTE_OPTIONS = ("ibm_backend",)

    def __init__(self, profile, options) -> None:
        super().__init__(profile, options)
        if not self.noise.noiseless:
            raise BackendError("a device backend brings its own noise; -O noise is for the Aer simulators")
        if ("fake_device" in self.options) == ("ibm_backend" in self.options):
            raise BackendError("give fake_device or ibm_backend (one of them)")
        self._isa: dict[CircuitSpec, Transpiled] = {}  # per circuit (zero-noise extrapolation folds it)
        if (self.options.get("dynamical_decoupling") or self.options.get("twirling")) and "fake_device" in self.options:
            raise BackendError("dynamical_decoupling and twirling are applied by IBM's service on real devices; the "
                               "runtime's local mode (fake_device) does not run them, and quinr's device model could "
                               "not predict them, so they are refused here rather than silently ignored")
        self._model = None  # the device model of fake_device, built on first use

    @property
    def device_name(self) -> str:
        return self.options.get("ibm_backend") or self.options["fake_device"]

    def run(self, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None, seed: int | None,
            report: ExecutionReport) -> np.ndarray:
        _import_qiskit()
        if shots is None:
            raise BackendError(f"{self.device_name} returns samples only; give --shots")
        if "ibm_backend" in self.options:
            raise BackendError(f"{self.device_name}: jobs are submitted and collected by id (Backend.run)")
        return self._run_fake(spec, h, theta, shots, seed, report)

    def _runtime_backend(self):
        if getattr(self, "_rt", None) is None:
            self._rt = self._connect()
        return self._rt

    def _connect(self):
        try:
            import qiskit_ibm_runtime
        except ImportError:
            raise MissingSDKError("IBM devices need qiskit-ibm-runtime: pip install qiskit-ibm-runtime") from None
        if "fake_device" in self.options:
            return fake_device(self.options["fake_device"]), None
        try:
            service = qiskit_ibm_runtime.QiskitRuntimeService(
                **{k: self.options[k] for k in ("channel", "instance") if k in self.options}
            )
            return service.backend(self.options["ibm_backend"]), service
        except Exception as exc:  # the service raises several unrelated types offline
            raise BackendError(
                f"cannot reach IBM Quantum backend {self.options['ibm_backend']!r}: {type(exc).__name__}: {exc}. "
                "Save credentials with QiskitRuntimeService.save_account(...) and check the network."
            ) from None

    def readout_confusion(self, spec: CircuitSpec) -> np.ndarray | None:
        """The device's calibrated readout flips on the physical qubits the circuit is laid out on
        (the transpilation is deterministic, so a resumed decode that ran nothing knows it too)."""
        physical = self._transpiled(spec).physical
        props = self._runtime_backend()[0].properties()
        out = []
        for q in physical:
            qp = props.qubit_property(q)
            a, b = qp["prob_meas1_prep0"][0], qp["prob_meas0_prep1"][0]
            out.append([[1 - a, b], [a, 1 - b]])
        return np.array(out)

    def knows_readout(self) -> bool:
        """Whether the device's properties have its readout calibration: fetched now, so that a
        mitigated decode without credentials (or without that calibration) stops before anything
        is submitted, not after the first paid task."""
        return self._runtime_backend()[0].properties() is not None

    def device_noise(self) -> NoiseSpec:
        from .calibration import from_ibm_backend

        return from_ibm_backend(self._runtime_backend()[0])

    def calibration_date(self) -> str | None:
        """The date of the device's calibration snapshot (fake devices: offline)."""
        if "fake_device" not in self.options:
            return None
        try:
            return self._runtime_backend()[0].properties().last_update_date.date().isoformat()
        except Exception:  # noqa: BLE001 - best effort: a record without the date is still a record
            return None

    def describe_noise(self) -> str:
        return f"the device's own ({self.device_name})"

    def calibrated_device(self):
        """A fake device itself; for a real device, qiskit-ibm-runtime's offline snapshot of it
        (its coupling map is the device's; its calibration is dated)."""
        if "fake_device" in self.options:
            return fake_device(self.options["fake_device"])
        snapshot = snapshot_of(self.options["ibm_backend"])
        return None if snapshot is None else fake_device(snapshot)

    def device_model(self):
        """The device-faithful model (:mod:`quinr.backends.device_model`) of the circuit this
        driver submits: a fake device's own calibration (built on the very transpilation this
        driver submits); for a real device, the offline snapshot of it that qiskit-ibm-runtime
        ships (dated: today's calibration may differ), else None."""
        if "fake_device" in self.options:
            if self._model is None:
                self._model = ibm_model(self._runtime_backend()[0], self.options.get("optimization_level", 1),
                                        self._transpiled)
            return self._model
        snapshot = snapshot_of(self.options["ibm_backend"])
        return None if snapshot is None else fake_model(snapshot, self.options.get("optimization_level", 1))

    def expectation(self, spec: CircuitSpec):
        from ..expectation import Expectation

        model = self.device_model()
        if model is None:
            raise NoDeviceModel(f"{self.device_name}: no offline calibration of it in qiskit-ibm-runtime's fake "
                                "provider (quinr predicts from calibrations it can read without the network)")
        prog = model.program(spec)
        if "fake_device" in self.options:
            return Expectation(model, prog.source, prog.confusion)
        snapshot = snapshot_of(self.options["ibm_backend"])
        unmodelled = [k.replace("_", " ") for k in ("dynamical_decoupling", "twirling") if self.options.get(k)]
        extra = f"; not modelled: the runtime's {' and '.join(unmodelled)}" if unmodelled else ""
        return Expectation(model, f"{snapshot} snapshot of {self.device_name} (not its current calibration): "
                                  f"{prog.source}{extra}", prog.confusion)

    def _transpiled(self, spec: CircuitSpec) -> Transpiled:
        """The circuit transpiled once per network for the device (deterministically, with h and
        theta as parameters: :func:`~quinr.backends.device_model.transpile_for`, the circuit the
        device model predicts and trains on). Kept for the readout calibration's layout: a
        resumed decode that only collects still learns it."""
        if spec not in self._isa:
            device = self._runtime_backend()[0]
            if len(self._isa) >= 8:
                self._isa.clear()
            self._isa[spec] = transpile_for(device, spec, self.options.get("optimization_level", 1))
        return self._isa[spec]

    def _run_fake(self, spec, h, theta, shots, seed, report) -> np.ndarray:
        """A fake backend: SamplerV2 in local testing mode (the jobs live in this process)."""
        from qiskit_ibm_runtime import SamplerV2

        tr = self._transpiled(spec)
        sampler = SamplerV2(mode=self._runtime_backend()[0])
        if seed is not None:
            sampler.options.simulator.seed_simulator = seed
        out = np.empty((h.shape[0], spec.n_states))
        for sl in task_chunks(h.shape[0], self.profile.max_circuits_per_task):
            job = sampler.run([(tr.isa, tr.bind(h[sl], theta), shots)])
            report.tasks += 1
            report.task_ids.append(job.job_id())
            out[sl] = _bitarray_probs(job.result()[0].data.meas, spec.n_qubits)
        report.circuits += h.shape[0]
        return out

    def remote_tasks(self) -> bool:
        return "ibm_backend" in self.options

    def submit(self, spec, h, theta, shots, seed, tags) -> str:  # pragma: no cover - needs IBM credentials and network
        """One SamplerV2 job (job mode) per chunk, tagged with the run and chunk."""
        from qiskit_ibm_runtime import SamplerV2

        if "ibm_backend" not in self.options:
            return super().submit(spec, h, theta, shots, seed, tags)
        if shots is None:
            raise BackendError(f"{self.device_name} returns samples only; give --shots")
        tr = self._transpiled(spec)
        sampler = SamplerV2(mode=self._runtime_backend()[0])
        sampler.options.environment.job_tags = [f"{k}={v}" for k, v in tags.items()]
        if "dynamical_decoupling" in self.options:
            sampler.options.dynamical_decoupling.enable = True
            sampler.options.dynamical_decoupling.sequence_type = self.options["dynamical_decoupling"]
        if self.options.get("twirling"):
            sampler.options.twirling.enable_gates = True
            sampler.options.twirling.enable_measure = True
            # randomizations that divide the shots: the runtime's "auto" rounds them up, which
            # would run (and bill) more shots than the budget counted
            k = twirling_randomizations(shots)
            sampler.options.twirling.num_randomizations = k
            sampler.options.twirling.shots_per_randomization = shots // k
        return sampler.run([(tr.isa, tr.bind(h, theta), shots)]).job_id()

    def collect(self, task_id, spec, theta, rows):  # pragma: no cover - needs IBM credentials and network
        """The job's bits by id, and the quantum seconds IBM reports for it (what it bills)."""
        from qiskit_ibm_runtime.exceptions import RuntimeInvalidStateError, RuntimeJobFailureError, RuntimeJobNotFound

        if "ibm_backend" not in self.options:
            return super().collect(task_id, spec, theta, rows)
        self._transpiled(spec)  # the layout, for the readout calibration
        service = self._runtime_backend()[1]
        try:
            job = service.job(task_id)
        except RuntimeJobNotFound:
            raise BackendError(f"IBM job {task_id} is not visible to this account: collect it with the account "
                               "(and instance) that submitted it") from None
        try:
            bits = job.result()[0].data.meas
        except (RuntimeJobFailureError, RuntimeInvalidStateError) as exc:  # failed or cancelled: nothing to pay for
            raise TaskFailedError(f"IBM job {task_id}: {exc}") from None
        try:
            seconds = job.usage()
        except Exception:  # noqa: BLE001 - the result is in hand; a record without usage is still a record
            seconds = None
        return _bitarray_probs(bits, spec.n_qubits), ({} if seconds is None else {"seconds": float(seconds)})


def twirling_randomizations(shots: int, most: int = 32) -> int:
    """The largest number of twirling randomizations, at most ``most`` (the runtime's default),
    that divides ``shots``: the job then runs exactly the shots the budget counted."""
    return max(k for k in range(1, min(most, shots) + 1) if shots % k == 0)


def _bitarray_probs(bits, n: int) -> np.ndarray:
    """Per-parameter-set frequencies from a SamplerV2 BitArray (big-endian bytes per shot)."""
    arr = np.asarray(bits.array)  # (batch, shots, nbytes), last byte holds the low bits
    weights = 256 ** np.arange(arr.shape[-1] - 1, -1, -1, dtype=np.int64)
    ints = (arr.astype(np.int64) * weights).sum(-1) & ((1 << n) - 1)
    probs = np.zeros((ints.shape[0], 1 << n))
    for i, row in enumerate(ints):
        probs[i] = np.bincount(row, minlength=1 << n)
    return probs / ints.shape[1]
