"""The training wing: a run directory is the single source of truth for a job.

    config.py       `TrainConfig` and form fields, validated from typed strings (torch-free)
    presets.py      the book's recipes and ours (torch-free)
    errors.py       why a run cannot go on (torch-free)
    runs.py         run directories: config, status, metrics, samples, log, control (torch-free)
    jobs.py         creating runs and starting job processes (torch-free)
    checkpoint.py   atomic, weights-only checkpoints with RNG state
    distributed.py  a rank's side of torchrun / DistributedDataParallel: the process group, failures
    control.py      status.json out, pause/resume/stop in, agreed by every rank
    trainer.py      the loop both jobs share; it knows no job
    charlm.py, sentiment.py   the two jobs, each a Trainer subclass
    session.py      `TRAINERS` (the registry of jobs) and `run_training`
    launcher.py     a distributed job's launcher: torchrun in process, then the run's final status
    worker.py       the job process: `python -m engine.training.worker RUN`

The import contracts in pyproject.toml keep this order: each module imports only those below it.
"""
