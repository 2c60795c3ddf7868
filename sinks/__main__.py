"""`python -m sinks` runs the ClickHouse sink (with the query endpoint for the embedded store)."""

from chargestream.settings import Settings
from sinks.service import run

if __name__ == "__main__":
    run(Settings())
