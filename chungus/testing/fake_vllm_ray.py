"""A fake of vLLM's OpenAI server on Ray, for machines without GPUs (vLLM needs CUDA).

It does with Ray what `vllm serve --distributed-executor-backend ray` does before it
answers (vllm/engine/arg_utils.py, vllm/v1/executor/ray_utils.py and ray_executor.py):
inside a Ray actor it takes the placement group it runs in; anywhere else it joins the
cluster and reserves its own (PACK, one {"GPU": 1} bundle per worker, the first on its
node). It starts one worker actor per GPU bundle with num_gpus=1 and num_cpus=0 and
notes the GPU each got. Then it serves /health, /v1/models, a trivial
/v1/chat/completions (chungus.testing.fake_engine's) and GET /workers (what the workers
got, and from which placement group). A model named `fail-after-load` exits with 3 once
its workers run, as an engine that crashes on load does.

Run: python -m chungus.testing.fake_vllm_ray serve MODEL --port P --tensor-parallel-size 2
     --distributed-executor-backend ray
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from aiohttp import web

from chungus.testing.fake_engine import chat, health


class FakeWorker:
    """Stands in for vLLM's RayWorkerWrapper: holds one GPU while the engine runs."""

    def describe(self) -> dict[str, Any]:
        import ray

        return {
            "gpu_ids": [str(gpu) for gpu in ray.get_gpu_ids()],
            "node": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
        }


def _in_ray_actor() -> bool:
    import ray

    return ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None


def _placement_group(world_size: int) -> tuple[Any, list[int], bool]:
    """The placement group, the bundles the workers go on, and whether it is our own."""
    import ray

    if _in_ray_actor():
        group = ray.util.get_current_placement_group()
    else:
        ray.init(address=os.environ.get("RAY_ADDRESS", "auto"))
        group = None
    if group is not None:
        specs = group.bundle_specs
        if any(bundle.get("GPU", 0) > 1 for bundle in specs):
            sys.exit("Placement group bundle cannot have more than 1 GPU.")
        gpu_bundles = [i for i, bundle in enumerate(specs) if bundle.get("GPU", 0)]
        if world_size > len(gpu_bundles):
            sys.exit(f"{world_size} GPUs required, the placement group has {len(gpu_bundles)}")
        return group, gpu_bundles[:world_size], False
    bundles: list[dict[str, float]] = [{"GPU": 1.0} for _ in range(world_size)]
    bundles[0][f"node:{ray.util.get_node_ip_address()}"] = 0.001
    group = ray.util.placement_group(bundles, strategy="PACK")
    ray.get(group.ready(), timeout=120)
    return group, list(range(world_size)), True


def _start_workers(group: Any, bundles: list[int]) -> tuple[list[Any], list[dict[str, Any]]]:
    import ray
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    worker = ray.remote(num_cpus=0, num_gpus=1)(FakeWorker)
    workers: list[Any] = [
        worker.options(
            scheduling_strategy=PlacementGroupSchedulingStrategy(
                placement_group=group,
                placement_group_bundle_index=index,
                placement_group_capture_child_tasks=True,
            )
        ).remote()
        for index in bundles
    ]
    return workers, ray.get([w.describe.remote() for w in workers], timeout=120)


def make_app(
    served_model_name: str, max_model_len: int, workers: dict[str, Any]
) -> web.Application:
    async def models(request: web.Request) -> web.Response:
        model = {"id": served_model_name, "object": "model", "owned_by": "vllm",
                 "max_model_len": max_model_len}  # fmt: skip
        return web.json_response({"object": "list", "data": [model]})

    async def describe_workers(request: web.Request) -> web.Response:
        return web.json_response(workers)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    app.router.add_get("/workers", describe_workers)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("subcommand", choices=["serve"])
    parser.add_argument("model")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--served-model-name", default="")
    parser.add_argument("--tensor-parallel-size", type=int, default=1)
    parser.add_argument("--pipeline-parallel-size", type=int, default=1)
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--distributed-executor-backend", default="")
    args, _ = parser.parse_known_args(argv)
    world_size = args.tensor_parallel_size * args.pipeline_parallel_size
    if args.distributed_executor_backend != "ray":
        parser.error("this fake runs only vLLM's Ray executor: --distributed-executor-backend ray")
    group, bundles, own = _placement_group(world_size)
    workers, described = _start_workers(group, bundles)
    print(f"{len(workers)} workers up: {described}", flush=True)
    if args.model == "fail-after-load":
        sys.exit(3)
    state = {"placement_group": group.id.hex(), "own_placement_group": own, "workers": described}
    app = make_app(args.served_model_name or args.model, args.max_model_len, state)
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
