"""The environment an engine or a job starts with: an allow-list, never CHUNGUS's secrets (pure).

Every launcher (local, Slurm, Ray) builds a child's environment here, from the
environment it starts in (CHUNGUS's own, or a Ray worker's on its node) and what the
launch spec sets itself. Passed on:

- the system's basics: PATH, HOME, USER, LOGNAME, SHELL, LANG, LANGUAGE, LC_*, TZ, TMPDIR;
- the GPU stacks' settings: CUDA_*, NVIDIA_*, ROCR_*, HIP_*, ROCM_*, HSA_*, LD_LIBRARY_PATH;
- thread counts: OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS;
- Python's: VIRTUAL_ENV, PYTHONPATH (jobs run `python -m …` from CHUNGUS's virtualenv);
- Hugging Face's cache: HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE;
- the names a spec asks for (LaunchSpec.pass_env, e.g. HF_TOKEN for an engine that
  downloads its model from the Hub), and the names the operator lists, comma-separated,
  in CHUNGUS_ENGINE_ENV (a site's proxy or license variables; the test suite's fakes).

Never passed, whoever asks: CHUNGUS's database and Redis URLs and its secret key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

BASICS = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR",
        "LD_LIBRARY_PATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
        "VIRTUAL_ENV", "PYTHONPATH", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE",
    }
)  # fmt: skip
PREFIXES = ("LC_", "CUDA_", "NVIDIA_", "ROCR_", "HIP_", "ROCM_", "HSA_")
HUB_TOKEN = "HF_TOKEN"  # for LaunchSpec.pass_env of an engine that fetches from the Hub
OPERATOR_NAMES = "CHUNGUS_ENGINE_ENV"  # more names to pass, comma-separated
NEVER = frozenset({"DATABASE_URL", "REDIS_URL", "CHUNGUS_SECRET_KEY"})


def operator_names(parent: Mapping[str, str]) -> tuple[str, ...]:
    """The names the operator adds in CHUNGUS_ENGINE_ENV (blanks dropped)."""
    return tuple(n.strip() for n in parent.get(OPERATOR_NAMES, "").split(",") if n.strip())


def allowed(name: str, asked: Iterable[str] = ()) -> bool:
    """Whether a variable of the parent's environment reaches the child."""
    if name in NEVER:
        return False
    return name in BASICS or name.startswith(PREFIXES) or name in set(asked)


def child_env(
    parent: Mapping[str, str], own: Mapping[str, str], asked: Iterable[str] = ()
) -> dict[str, str]:
    """The child's environment: the allowed part of `parent`, then the spec's own variables
    (`own`, which win). `asked` names more variables of `parent` the spec needs."""
    names = {*asked, *operator_names(parent)}
    env = {k: v for k, v in parent.items() if allowed(k, names)}
    env.update(own)
    return env
