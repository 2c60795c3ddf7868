"""`python -m streams` runs the Faust worker (arguments as for `faust worker`)."""

import sys

from schemas.topics import ensure_topics, worker_changelog
from streams.app import app, settings

if __name__ == "__main__":
    if len(sys.argv) == 1:
        sys.argv += ["worker", "--without-web", "--loglevel", "info"]
    if "worker" in sys.argv:
        ensure_topics(
            settings.bootstrap, settings.topic_partitions, topics=[worker_changelog(settings.worker_id)]
        )
    app.main()
