"""`python -m bench [overrides]`: the Hydra entry point; it only hands the config to run()."""

import logging

import hydra
from omegaconf import DictConfig

from bench.errors import user_errors_exit
from bench.run import run
from bench.summary import summary_table

log = logging.getLogger("bench")


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
@user_errors_exit
def main(cfg: DictConfig) -> None:
    rows = run(cfg)
    if rows:
        print(summary_table(rows), flush=True)
        log.info("%d rows appended to %s", len(rows), cfg.results.table)


if __name__ == "__main__":
    main()
