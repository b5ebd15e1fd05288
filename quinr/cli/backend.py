"""``quinr backends``, ``budget``, ``noise``, ``replay`` and ``study``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError


def _cmd_backends(args: argparse.Namespace) -> int:
    from ..backends import load_profiles, missing_requirements

    if args.name is not None:
        return _describe_backend(args.name, args.json)
    if args.json:
        from .output import print_json, profile_dict

        entries = []
        for p in sorted(load_profiles().values(), key=lambda p: p.name):
            missing = missing_requirements(p)
            entries.append(profile_dict(p, not missing, p.pip or f"pip install {' '.join(missing)}"))
        print_json({"backends": entries})
        return 0
    rows = [("name", "kind", "driver", "exact", "qubits", "noise", "price", "available")]
    for p in sorted(load_profiles().values(), key=lambda p: p.name):
        missing = missing_requirements(p)
        avail = "yes" if not missing else (p.pip or f"pip install {' '.join(missing)}")
        name = p.name + (" (user override)" if p.overrides_builtin else "")
        rows.append((name, p.kind, p.driver, "yes" if p.exact else "no", str(p.max_qubits), p.noise,
                     p.pricing.describe(), avail))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(col.ljust(w) for col, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _describe_backend(name: str, as_json: bool = False) -> int:
    """One backend: its profile, the driver the profile selects, and every option it takes."""
    from ..backends import get_profile, missing_requirements
    from ..backends.options import as_option
    from ..backends.registry import _driver_class, driver_name

    p = get_profile(name)
    cls = _driver_class(p.driver, p.options)
    missing = missing_requirements(p)
    if as_json:
        from .output import option_dict, print_json, profile_dict

        options = {k: option_dict(as_option(cls.OPTIONS[k]), p.options.get(k)) for k in sorted(cls.OPTIONS)}
        d = profile_dict(p, not missing, p.pip or f"pip install {' '.join(missing)}", options)
        d["driver_class"] = driver_name(p.driver, p.options)
        print_json(d)
        return 0
    print(f"{p.name}: {p.description}" + ("  [user profile overriding the built-in]" if p.overrides_builtin else ""))
    print(f"  kind        {p.kind}")
    print(f"  driver      {driver_name(p.driver, p.options)}" + (f" (family {p.driver})" if p.driver != driver_name(p.driver, p.options) else ""))
    print(f"  exact       {'yes' if p.exact else 'no (give --shots)'}")
    print(f"  limits      {p.max_qubits} qubits, {p.max_shots} shots per circuit, {p.max_circuits_per_task} circuits per task")
    print(f"  noise       {p.noise}")
    print(f"  price       {p.pricing.describe()}" + (f"; {p.pricing.source}" if p.pricing.source else ""))
    print(f"  available   {'yes' if not missing else p.pip or 'pip install ' + ' '.join(missing)}")
    print("  options (-O KEY=VALUE; the profile's values are marked *):")
    for key in sorted(cls.OPTIONS):
        opt = as_option(cls.OPTIONS[key])
        mark = f" * {p.options[key]}" if key in p.options else ""
        print(f"    {key:<20} {opt.describe()}{mark}")
    return 0


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _cmd_budget(args: argparse.Namespace) -> int:
    import json

    from ..backends import parse_options
    from ..budget import plan_budget
    from ..quality import PREDICT_COORDINATES

    samples = PREDICT_COORDINATES if args.predict_samples is None else args.predict_samples
    if samples < 1:
        raise ConfigError("--predict-samples must be positive")
    est = plan_budget(args.input, args.backend, shots=args.shots, target_psnr_drop=args.target_psnr_drop,
                      reference=args.reference, crop=args.crop, scale=args.scale, max_cost=args.max_cost,
                      max_pixels=args.max_pixels, options=parse_options(args.option), mitigate=args.mitigate,
                      samples=samples, time_probe=args.time_probe)
    over = 0 if est.within_budget else 1  # the report is printed; the exit code says "does not fit"
    if args.json:
        print(json.dumps(est.to_dict(), indent=2))
        return over
    shots = "exact" if est.shots is None else f"{est.shots}"
    print(f"{args.input} on {est.backend} ({est.device})")
    print(f"  circuits          {est.circuits}")
    print(f"  shots/circuit     {shots}")
    print(f"  total shots       {est.total_shots}")
    print(f"  tasks             {est.tasks}")
    if est.device_seconds is not None:
        print(f"  device time       {est.device_seconds:.1f} s (estimate)")
    if est.wall_seconds is not None:
        print(f"  wall time         {_duration(est.wall_seconds)} here (estimate from two timed probes)")
    print(f"  cost              {est.cost:.2f} {est.currency}  ({est.pricing}; {est.pricing_source})")
    for line in prediction_lines(est.predicted_psnr_vs_exact, est.predicted_psnr, est.predicted_psnr_shots_only,
                                 est.noise_source, est.prediction_coordinates, est.shots, args.reference):
        print(line)
    if est.max_cost is not None:
        verdict = "within" if est.within_budget else "OVER"
        print(f"  budget            {verdict} --max-cost {est.max_cost:.2f}" + (f"; fits: {est.fits}" if est.fits else ""))
    return over


def prediction_lines(vs_exact, vs_ref, shots_only, source: str, coordinates: int, shots, reference) -> list[str]:
    """The predicted-quality lines of ``budget`` and ``decode --report``."""
    out = []
    if vs_exact is not None:
        out.append(f"  predicted PSNR    {vs_exact:.2f} dB against the exact decode (noise and shots; "
                   f"{coordinates} coordinates evaluated)")
    elif shots is None and source.startswith("none"):
        out.append("  predicted PSNR    exact: the decode equals the exact decode")
    if vs_ref is not None:
        out.append(f"  predicted PSNR    {vs_ref:.2f} dB against {reference}")
    if shots_only is not None:
        out.append(f"  shot noise only   {shots_only:.2f} dB against the exact decode")
    out.append(f"  noise model       {source}")
    return out


def _cmd_noise(args: argparse.Namespace) -> int:
    import json

    from ..backends import parse_noise as parse

    if args.output:
        from ..files import check_output

        check_output(args.output, suffixes=(".json",), what="noise spec")
    spec = parse(args.spec)
    text = json.dumps(spec.to_dict(), indent=2)
    if args.output:
        from ..files import atomic_write

        atomic_write(Path(args.output), (text + "\n").encode())
        print(f"wrote {args.output}: {spec.describe()}")
    else:
        print(text)
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from ..hardware import replay_record

    bad = 0
    paths = list(args.record)
    if len(paths) > 1:  # a glob such as hardware_runs/* also matches the folder's README
        for path in [p for p in paths if Path(p).is_file()]:
            print(f"{path}: skipped (a file, not a run record)")
            paths.remove(path)
    for path in paths:
        res = replay_record(path)
        rec, rep = res["recorded"], res["replayed"]
        status = "identical" if res["identical"] else "DIFFERENT"
        bad += not res["identical"]
        print(f"{path}: {status}; PSNR vs exact decode recorded {rec['psnr_vs_exact_decode']:.4f} dB, "
              f"replayed {rep['psnr_vs_exact_decode']:.4f} dB")
    return 1 if bad else 0


def _cmd_study(args: argparse.Namespace) -> int:
    from ..backends import parse_options
    from ..files import check_output_dir
    from ..study import study_noise, study_shots

    check_output_dir(args.out)
    from .progress import Bars

    common = dict(repeats=args.repeats, noise=args.noise, options=parse_options(args.option), reference=args.reference,
                  seed=args.seed, crop=args.crop, scale=args.scale, mitigate=args.mitigate)
    with Bars(args.quiet, f"study {args.study}", "decode") as bars:  # the study counts the decodes it makes
        if args.study == "shots":
            res = study_shots(args.input, args.backend, args.shots, progress=bars.count, **common)
        else:
            res = study_noise(args.input, args.backend, args.param, args.values, shots=args.shots,
                              progress=bars.count, **common)
    paths = res.save(args.out)
    label = "shots" if res.kind == "shots" else res.parameter
    print(f"study {res.kind} on {res.backend}, PSNR vs {res.reference}, noise {res.noise}")
    more = f"  {'with ' + res.mitigation:>16}  {'predicted':>9}" if res.mitigation else ""
    print(f"  {label:>14}  {'measured (dB)':>16}  {'predicted':>9}{more}")
    for p in res.points:
        pred = "" if p.predicted_psnr is None else f"{p.predicted_psnr:9.2f}"
        line = f"  {p.value:>14g}  {p.mean:8.2f} ± {p.std:5.2f}  {pred:>9}"
        if res.mitigation:
            mpred = "" if p.predicted_mitigated is None else f"{p.predicted_mitigated:9.2f}"
            line += f"  {p.mitigated_mean:16.2f}  {mpred:>9}"
        print(line)
    if res.noise_source:
        print(f"  predicted from: {res.noise_source}")
    print("  wrote " + ", ".join(str(v) for v in paths.values()))
    return 0


