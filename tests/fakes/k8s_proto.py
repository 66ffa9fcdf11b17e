"""Decoding of the Kubernetes protobuf encoding (`application/vnd.kubernetes.protobuf`).

client-go's typed clients (helm's release storage among them) send request
bodies in protobuf: the 4-byte magic `k8s\\0`, then a `runtime.Unknown` message
holding the TypeMeta and the object's own protobuf bytes. Only the kinds those
clients write are decoded here (Secret, ConfigMap, DeleteOptions); answers go
back as JSON, which clients accept whatever they asked for.

Field numbers are those of k8s.io/api/core/v1/generated.proto and
k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

MAGIC = b"k8s\x00"


class ProtoError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtoError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value): ints for varints, bytes for the rest."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        yield number, wire, value


def _map_entry(data: bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for number, _, raw in fields(data):
        if number == 1:
            key = raw.decode()
        elif number == 2:
            value = raw
    return key, value


def _time(data: bytes) -> str:
    seconds = 0
    for number, _, raw in fields(data):
        if number == 1:
            seconds = raw
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner_reference(data: bytes) -> dict[str, Any]:
    names = {
        1: "kind",
        3: "name",
        4: "uid",
        5: "apiVersion",
        6: "controller",
        7: "blockOwnerDeletion",
    }
    ref: dict[str, Any] = {}
    for number, wire, raw in fields(data):
        if number in names:
            ref[names[number]] = bool(raw) if wire == 0 else raw.decode()
    return ref


def object_meta(data: bytes) -> dict[str, Any]:
    strings = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    meta: dict[str, Any] = {}
    for number, _, raw in fields(data):
        if number in strings:
            if raw:  # Go encodes unset strings as empty ones
                meta[strings[number]] = raw.decode()
        elif number == 7:
            if raw:
                meta["generation"] = raw
        elif number == 8:
            if raw:
                meta["creationTimestamp"] = _time(raw)
        elif number in (11, 12):
            key, value = _map_entry(raw)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = value.decode()
        elif number == 13:
            meta.setdefault("ownerReferences", []).append(_owner_reference(raw))
        elif number == 14:
            meta.setdefault("finalizers", []).append(raw.decode())
    return meta


def _secret(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(raw)
        elif number == 2:
            key, value = _map_entry(raw)
            obj.setdefault("data", {})[key] = base64.b64encode(value).decode()
        elif number == 3:
            obj["type"] = raw.decode()
        elif number == 4:
            key, value = _map_entry(raw)
            obj.setdefault("stringData", {})[key] = value.decode()
        elif number == 5:
            obj["immutable"] = bool(raw)
    return obj


def _config_map(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(raw)
        elif number == 2:
            key, value = _map_entry(raw)
            obj.setdefault("data", {})[key] = value.decode()
        elif number == 3:
            key, value = _map_entry(raw)
            obj.setdefault("binaryData", {})[key] = base64.b64encode(value).decode()
        elif number == 4:
            obj["immutable"] = bool(raw)
    return obj


def _delete_options(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["gracePeriodSeconds"] = raw
        elif number == 4:
            obj["propagationPolicy"] = raw.decode()
    return obj


DECODERS = {"Secret": _secret, "ConfigMap": _config_map, "DeleteOptions": _delete_options}


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf request body as the JSON object it stands for."""
    if not body.startswith(MAGIC):
        raise ProtoError("no k8s protobuf magic")
    type_meta: dict[str, str] = {}
    raw = b""
    for number, _, value in fields(body[len(MAGIC) :]):
        if number == 1:
            for sub, _, text in fields(value):
                type_meta[{1: "apiVersion", 2: "kind"}.get(sub, str(sub))] = text.decode()
        elif number == 2:
            raw = value
    kind = type_meta.get("kind", "")
    decoder = DECODERS.get(kind)
    if decoder is None:
        raise ProtoError(f"the fake cannot decode protobuf for kind {kind!r}")
    obj = decoder(raw)
    obj["apiVersion"] = type_meta.get("apiVersion", "v1")
    obj["kind"] = kind
    return obj
