"""The `perf` subcommands: speed benchmarks of training and evaluation that print figures.
The benchmarks themselves (emergence.perf) load JAX, so they are imported only when one runs."""

from __future__ import annotations

from emergence.cli.arguments import Parser, add_cpu_devices, count


def cmd_perf_train(args) -> dict:
    from emergence.perf import perf_train
    from emergence.train.distributed import cpu_devices

    cpu_devices(args.cpu_devices)  # as training jobs run
    return perf_train(args.config, args.size, args.seconds, args.batch_size, args.steps_per_call, args.precision)


def cmd_perf_evaluate(args) -> dict:
    from emergence.perf import perf_evaluate

    return perf_evaluate(args.config, args.size, args.new_tokens, args.batch_size)


def add_commands(sub) -> None:
    """`perf train` and `perf evaluate` under the command line's subcommands `sub`."""
    p = sub.add_parser("perf", help="speed benchmarks that print figures (last line JSON)")
    perf = p.add_subparsers(dest="what", required=True, parser_class=Parser)
    b = perf.add_parser("train", help="training throughput against this machine's float32 matmul peak")
    b.add_argument("--config", default="config/config.yaml", help="study config whose grid holds the model")
    b.add_argument("--size", help="size name from the config (default: the largest)")
    b.add_argument("--seconds", type=float, default=20.0, help="timed training seconds (after compilation)")
    b.add_argument("--batch-size", type=count(1), help="override the config's batch size")
    b.add_argument("--steps-per-call", type=count(1), help="override the config's optimizer steps per jitted call")
    b.add_argument("--precision", choices=["float32", "bfloat16"], help="override the config's training.precision")
    add_cpu_devices(b)
    b.set_defaults(func=cmd_perf_train)
    b = perf.add_parser(
        "evaluate", help="multiple-choice items/s and generation tokens/s with and without the KV cache"
    )
    b.add_argument("--config", default="config/config.yaml")
    b.add_argument("--size", help="size name from the config (default: the largest)")
    b.add_argument("--new-tokens", type=count(1), default=64)
    b.add_argument("--batch-size", type=count(1), default=32)
    b.set_defaults(func=cmd_perf_evaluate)
