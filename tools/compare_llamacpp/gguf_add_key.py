#!/usr/bin/env python3
"""Copies a GGUF file, adding (or replacing) one metadata key; the tensors are copied unchanged.

    python gguf_add_key.py IN.gguf OUT.gguf KEY TYPE VALUE
    python gguf_add_key.py lite-f32.gguf /tmp/lite-f32-llamacpp.gguf deepseek2.attention.q_lora_rank uint32 0

Needs the `gguf` package (pinned in tools/fixtures/requirements-gguf.txt: gguf 0.19.0, the
version vendored with the llama.cpp the comparison uses). Used to give llama.cpp the
`deepseek2.attention.q_lora_rank = 0` it requires for q_lora-less models whose block_count is not
26 or 27 (see tests/fixtures/gguf_models/README.md).
"""

from __future__ import annotations

import argparse

import gguf
from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

TYPES = {"uint32": (gguf.GGUFValueType.UINT32, int), "int32": (gguf.GGUFValueType.INT32, int),
         "uint64": (gguf.GGUFValueType.UINT64, int), "float32": (gguf.GGUFValueType.FLOAT32, float),
         "bool": (gguf.GGUFValueType.BOOL, lambda s: s.lower() in ("1", "true")),
         "string": (gguf.GGUFValueType.STRING, str)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("key")
    ap.add_argument("type", choices=sorted(TYPES))
    ap.add_argument("value")
    args = ap.parse_args()
    vtype, parse = TYPES[args.type]
    reader = gguf.GGUFReader(args.input, "r")
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    writer = gguf.GGUFWriter(args.output, arch=arch, endianess=reader.endianess)
    align = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if align is not None:
        writer.data_alignment = int(align.contents())
    copy_with_new_metadata(reader, writer, {args.key: MetadataDetails(vtype, parse(args.value))}, [])


if __name__ == "__main__":
    main()
