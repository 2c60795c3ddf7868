"""Avro in the Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary.

Without a schema registry the ids come from the embedded manifest (schemas/manifest.json), so
every process agrees without a server; with CHARGESTREAM_SCHEMA_REGISTRY_URL set, confluent-kafka's
registry serializers are used instead. Both produce the same bytes layout.
"""

from __future__ import annotations

import io
import json
import struct
from functools import cache
from importlib import resources
from typing import Any, Protocol

import fastavro

from schemas.errors import RecordError

MAGIC = 0
_HEADER = struct.Struct(">bI")


class DecodeError(RecordError):
    """Bytes that are not a valid record of a known schema: they go to the topic's DLQ."""


class Codec(Protocol):
    def encode(self, topic: str, record: dict[str, Any]) -> bytes: ...

    def decode(self, topic: str, data: bytes) -> dict[str, Any]: ...


def subject(topic: str) -> str:
    return f"{topic}-value"  # TopicNameStrategy, the registry default


@cache
def load_schema(file: str) -> dict[str, Any]:
    text = resources.files("schemas").joinpath(file).read_text()
    parsed: dict[str, Any] = json.loads(text)
    return parsed


@cache
def _manifest() -> dict[str, list[dict[str, Any]]]:
    data = json.loads(resources.files("schemas").joinpath("manifest.json").read_text())
    subjects: dict[str, list[dict[str, Any]]] = data["subjects"]
    return subjects


def schema_for_topic(topic: str) -> dict[str, Any]:
    """The latest schema of a topic's value subject."""
    versions = _manifest().get(subject(topic))
    if not versions:
        raise KeyError(f"no Avro schema for topic {topic!r}")
    return load_schema(versions[-1]["file"])


class EmbeddedCodec:
    """Wire-format codec whose schema ids come from the embedded manifest."""

    def __init__(self) -> None:
        self._writers: dict[str, tuple[int, Any]] = {}
        self._by_id: dict[int, Any] = {}
        self._reader: dict[str, Any] = {}
        for subj, versions in _manifest().items():
            for v in versions:
                self._by_id[int(v["id"])] = fastavro.parse_schema(load_schema(v["file"]))
            latest = versions[-1]
            parsed = self._by_id[int(latest["id"])]
            self._writers[subj] = (int(latest["id"]), parsed)
            self._reader[subj] = parsed

    def encode(self, topic: str, record: dict[str, Any]) -> bytes:
        schema_id, schema = self._writers[subject(topic)]
        buf = io.BytesIO()
        buf.write(_HEADER.pack(MAGIC, schema_id))
        fastavro.schemaless_writer(buf, schema, record)
        return buf.getvalue()

    def decode(self, topic: str, data: bytes) -> dict[str, Any]:
        if len(data) < _HEADER.size:
            raise DecodeError(f"{len(data)} bytes is too short for the Confluent wire format")
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise DecodeError(f"unknown magic byte {magic}: not Confluent wire-format Avro")
        writer = self._by_id.get(schema_id)
        if writer is None:
            raise DecodeError(f"unknown schema id {schema_id}")
        reader = self._reader.get(subject(topic), writer)
        try:
            record = fastavro.schemaless_reader(
                io.BytesIO(data[_HEADER.size :]), writer, reader, return_record_name=True
            )
        except Exception as exc:  # fastavro raises assorted errors on corrupt input
            raise DecodeError(f"corrupt Avro body for schema id {schema_id}: {exc}") from exc
        if not isinstance(record, dict):
            raise DecodeError(f"schema id {schema_id} does not describe a record")
        return record


class RegistryCodec:
    """confluent-kafka's schema-registry serializers (auto-registering the embedded schemas)."""

    def __init__(self, url: str) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer

        # new_client serves "mock://" URLs from confluent-kafka's in-memory registry (tests, demos)
        self._client = SchemaRegistryClient.new_client({"url": url})
        self._ser: dict[str, AvroSerializer] = {}
        self._de = AvroDeserializer(self._client, return_record_name=True)
        self._serializer_cls = AvroSerializer

    def encode(self, topic: str, record: dict[str, Any]) -> bytes:
        from confluent_kafka.serialization import MessageField, SerializationContext

        ser = self._ser.get(topic)
        if ser is None:
            ser = self._serializer_cls(self._client, json.dumps(schema_for_topic(topic)))
            self._ser[topic] = ser
        out = ser(record, SerializationContext(topic, MessageField.VALUE))
        assert out is not None
        return bytes(out)

    def decode(self, topic: str, data: bytes) -> dict[str, Any]:
        from confluent_kafka.serialization import MessageField, SerializationContext

        try:
            rec = self._de(data, SerializationContext(topic, MessageField.VALUE))
        except Exception as exc:
            raise DecodeError(f"cannot decode with the schema registry: {exc}") from exc
        if not isinstance(rec, dict):
            raise DecodeError("decoded value is not a record")
        return rec


def make_codec(registry_url: str | None) -> Codec:
    return RegistryCodec(registry_url) if registry_url else EmbeddedCodec()
