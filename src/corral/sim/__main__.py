"""`python -m corral.sim TRACE ...`"""

from corral.sim.cli import sim

if __name__ == "__main__":
    sim(prog_name="python -m corral.sim")
