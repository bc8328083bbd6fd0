# Fan a resloop sweep out over shards and merge them.
#
#   snakemake -s workflows/sweep.smk --configfile workflows/sweep.example.yaml --cores 2
#
# Each shard job runs `resloop sweep SWEEP --shard i/N --resume`: a deterministic,
# contiguous slice of the design's points, evaluated with the same per-point seeds as a
# single-machine run, so the merged runs.csv is byte-identical to one. `--resume` makes
# a retried or preempted shard continue from the rows already on disk instead of
# starting again (the shard directory is deliberately not a Snakemake output, so a
# failed job's partial rows are kept). The merge job checks every point is present
# exactly once and runs the sensitivity analysis (indices and plots).
#
# Config keys (see workflows/sweep.example.yaml):
#   sweep          sweep file (required)
#   out            output folder (required): OUT/shards/<i>/ and OUT/merged/
#   shards         number of shards (default 4)
#   threads        threads per shard job (default 1)
#   resloop        resloop executable (default: `resloop` on PATH)
#   allow_outside  pass --allow-out-of-bounds (default false)
#   runtime        minutes per shard job on a cluster (default 60)
#   mem_mb         memory per shard job on a cluster (default 1000)
#
# On Slurm: see docs/cluster.md (`--profile workflows/profiles/slurm`).

SWEEP = config["sweep"]
OUT = config["out"].rstrip("/")
SHARDS = int(config.get("shards", 4))
RESLOOP = config.get("resloop", "resloop")
EXTRA = "--allow-out-of-bounds" if config.get("allow_outside", False) else ""

if SHARDS < 1:
    raise ValueError(f"config `shards` must be at least 1, found {SHARDS}")

wildcard_constraints:
    i=r"\d+",


rule all:
    input:
        f"{OUT}/merged/runs.csv",


rule shard:
    input:
        SWEEP,
    output:
        touch(f"{OUT}/shards/{{i}}.done"),
    log:
        f"{OUT}/logs/shard_{{i}}.log",
    threads: int(config.get("threads", 1))
    resources:
        runtime=int(config.get("runtime", 60)),
        mem_mb=int(config.get("mem_mb", 1000)),
    params:
        dir=lambda wc: f"{OUT}/shards/{wc.i}",
        shards=SHARDS,
    shell:
        "{RESLOOP} sweep {input} --out {params.dir} --shard {wildcards.i}/{params.shards}"
        " --resume --threads {threads} {EXTRA} > {log} 2>&1"


rule merge:
    input:
        expand(f"{OUT}/shards/{{i}}.done", i=range(SHARDS)),
    output:
        f"{OUT}/merged/runs.csv",
    log:
        f"{OUT}/logs/merge.log",
    resources:
        runtime=int(config.get("runtime", 60)),
        mem_mb=int(config.get("mem_mb", 1000)),
    params:
        dirs=" ".join(f"{OUT}/shards/{i}" for i in range(SHARDS)),
        out=f"{OUT}/merged",
    shell:
        "{RESLOOP} merge {params.dirs} --out {params.out} > {log} 2>&1"
