"""Managed Amazon Braket devices by ARN: QPUs and on-demand simulators (driver ``braket_device``;
the ``braket`` family's device target).

Each chunk of coordinates is one task: a program set (one parametric circuit, a parameter set per
coordinate; one task fee), submitted with the run's and chunk's tags and collected by its ARN, so a
resumed decode fetches a task submitted before a crash instead of paying for it again. Needs AWS
credentials and network; fails fast with a clear message before anything is submitted when they
are missing. The circuit is the noise-free lowering: the device brings its own noise.
"""

from __future__ import annotations

import numpy as np

from ..circuit import CircuitSpec
from ..errors import BackendError, MissingSDKError, TaskFailedError
from ..mitigation import uses_zne
from ..noise import NoiseSpec
from .base import Driver, ExecutionReport, counts_to_probs
from .braket_local import BRAKET_OPTIONS, build_circuit


def region_of(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "braket":
        raise BackendError(f"not a Braket device ARN: {arn!r}")
    return parts[3]


class BraketDeviceDriver(Driver):
    OPTIONS = BRAKET_OPTIONS
    REMOTE_OPTIONS = ("device_arn",)

    def __init__(self, profile, options) -> None:
        super().__init__(profile, options)
        if not self.noise.noiseless:
            raise BackendError("a Braket device brings its own noise; -O noise is for the local braket_dm simulator")
        if "device_arn" not in self.options:
            raise BackendError(f"profile {profile.name}: a managed Braket device needs options.device_arn")
        region_of(self.options["device_arn"])  # validate early

    @property
    def device_name(self) -> str:
        return self.options["device_arn"]

    def run(self, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None, seed: int | None,
            report: ExecutionReport) -> np.ndarray:
        raise BackendError(f"{self.device_name}: tasks are submitted and collected by id (Backend.run)")

    def program_set(self, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int):
        """One program set per task: the parametric circuit bound to every row of h."""
        from braket.program_sets import CircuitBinding, ProgramSet

        circ = build_circuit(spec, theta, exact=False)
        binding = CircuitBinding(circ, input_sets={f"h{j}": h[:, j].tolist() for j in range(spec.embed_dim)})
        return ProgramSet([binding], shots_per_executable=shots)

    def remote_tasks(self) -> bool:
        return True

    def mitigation_problem(self, mitigate: str) -> str | None:
        if not uses_zne(mitigate):  # the device's compiler may merge G^-1 G (verbatim boxes are not used)
            return None
        return ("its provider compiles circuits and may merge a folded gate with its inverse, so zero-noise "
                "extrapolation would pay three times for nothing; quinr refuses it there")

    def submit(self, spec, h, theta, shots, seed, tags) -> str:  # pragma: no cover - past the credential check: network
        if shots is None:
            raise BackendError(f"{self.device_name}: QPUs return samples only; give --shots")
        device = self._aws_device()
        return device.run(self.program_set(spec, h, theta, shots), tags=tags).id

    def collect(self, task_id, spec, theta, rows):
        """The task's counts by ARN, and the shots Braket reports as completed (what it bills)."""
        from braket.aws import AwsQuantumTask

        session = self._aws_session()
        task = AwsQuantumTask(task_id, aws_session=session)  # pragma: no cover - network from here on
        result = task.result()
        meta = task.metadata()
        if result is None or meta.get("status") in ("FAILED", "CANCELLED"):
            raise TaskFailedError(f"Braket task {task_id} {meta.get('status')}: {meta.get('failureReason', 'no reason given')}")
        return program_set_probs(result, spec.n_qubits), braket_usage(meta)

    def readout_confusion(self, spec: CircuitSpec) -> np.ndarray | None:
        """A managed device: the median readout error of its standardized calibration, the same on
        every wire (Braket compiles the circuit onto qubits of its choosing), symmetric (Braket
        publishes one readout fidelity per qubit, not the two flip probabilities)."""
        return self._calibration().confusion(spec.n_qubits)

    def knows_readout(self) -> bool:
        """A managed device: whether its calibration has readout fidelities (fetched now, so a
        mitigated decode without them or without credentials stops before submitting)."""
        return bool(self._calibration().readout)

    def _calibration(self) -> NoiseSpec:
        if getattr(self, "_device_calibration", None) is None:
            self._device_calibration = self.device_noise()
        return self._device_calibration

    def device_noise(self) -> NoiseSpec:
        """A snapshot of the device's standardized calibration (needs credentials and network)."""
        from .calibration import from_braket_properties

        device = self._aws_device()
        try:  # pragma: no cover - network
            return from_braket_properties(device.properties.standardized, self.options["device_arn"])
        except AttributeError:  # pragma: no cover - network
            raise BackendError(f"{self.options['device_arn']} publishes no standardized calibration") from None

    def _aws_session(self):
        """An AwsSession in the device's region, or a clear error before any network call when
        the SDK or credentials are missing."""
        arn = self.options["device_arn"]
        try:
            import boto3
            from braket.aws import AwsSession
        except ImportError:
            raise MissingSDKError("managed Braket devices need boto3 and amazon-braket-sdk: pip install amazon-braket-sdk") from None
        session = boto3.Session(region_name=region_of(arn))
        if session.get_credentials() is None:
            raise BackendError(
                f"no AWS credentials for {arn}: configure them (aws configure, AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY or AWS_PROFILE) before decoding on Braket"
            )
        try:
            return AwsSession(boto_session=session)
        except Exception as exc:  # botocore raises many unrelated types offline  # pragma: no cover - network
            raise BackendError(f"cannot reach Braket in {region_of(arn)}: {type(exc).__name__}: {exc}") from None

    def _aws_device(self):
        """An AwsDevice (see :meth:`_aws_session` for what is checked first)."""
        from braket.aws import AwsDevice

        session = self._aws_session()
        try:  # pragma: no cover - network
            return AwsDevice(self.options["device_arn"], aws_session=session)
        except Exception as exc:  # botocore raises many unrelated types offline  # pragma: no cover - network
            raise BackendError(f"cannot reach Braket device {self.options['device_arn']}: {type(exc).__name__}: {exc}") from None


def braket_usage(metadata: dict) -> dict[str, float]:
    """What Braket bills a completed task for, from its GetQuantumTask metadata: the task fee and
    the shots that completed (``numSuccessfulShots``); empty when the service did not report them."""
    if metadata.get("status") != "COMPLETED" or metadata.get("numSuccessfulShots") is None:
        return {}
    return {"tasks": 1, "shots": int(metadata["numSuccessfulShots"])}


def program_set_probs(result, n: int) -> np.ndarray:
    """Frequencies per executable of a program-set result, in binding order."""
    return np.array([counts_to_probs(entry.counts, n) for program in result for entry in program])
