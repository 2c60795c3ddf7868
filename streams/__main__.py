"""`python -m streams` runs the Faust worker (arguments as for `faust worker`)."""

import sys

from streams.app import app

if __name__ == "__main__":
    if len(sys.argv) == 1:
        sys.argv += ["worker", "--without-web", "--loglevel", "info"]
    app.main()
