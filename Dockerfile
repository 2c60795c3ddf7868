# chargestream services image: one image for the gateway, the Faust worker, the ClickHouse sink and
# the one-shot topic setup (compose.yaml picks the command). Kafka and ClickHouse run in their own
# containers, so no JRE and no embedded store are needed here. Default command: the sink.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CHARGESTREAM_STATE_DIR=/var/lib/chargestream

WORKDIR /app
COPY pyproject.toml README.md ./
COPY chargestream/ chargestream/
COPY schemas/ schemas/
COPY producers/ producers/
COPY streams/ streams/
COPY sinks/ sinks/

# A regular (non-editable) install into site-packages; the build leftovers go.
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info

# Non-root user; the state dir (Faust's RocksDB store under worker/) is created and owned by it
# before it becomes a volume, so a fresh named volume inherits that ownership.
RUN groupadd --system --gid 10001 chargestream \
    && useradd --system --uid 10001 --gid chargestream --create-home --home-dir /home/chargestream \
        --shell /usr/sbin/nologin chargestream \
    && mkdir -p "$CHARGESTREAM_STATE_DIR" \
    && chown chargestream:chargestream "$CHARGESTREAM_STATE_DIR"
VOLUME ["/var/lib/chargestream"]

USER chargestream
# Run outside /app so `python -m ...` imports the installed packages, not the copied sources.
WORKDIR /home/chargestream

CMD ["python", "-m", "chargestream.cli", "serve", "sink"]
