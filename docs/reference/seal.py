"""Reference implementation of the Tessera seal (v1) and chunk Merkle root, for cross-checking.

It is deliberately plain and slow: it exists so that the construction in docs/protocol.md can be
checked by a second implementation. The golden vectors in crates/tessera-partition and
crates/tessera-core come from it.
Usage: python3 docs/reference/seal.py MINER_HEX VALIDATOR_HEX CHUNK_SIZE PASSES ID
       python3 docs/reference/seal.py partition N   (the root over leaves SHA-256(i as u64 LE))
"""
import hashlib
import struct
import sys

CELL = 32
SEGMENT = 1024


def sha(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def seal(miner, validator, chunk_size, passes, chunk_id):
    partition_seed = sha(b"tessera/seal/v1", miner, validator,
                         struct.pack("<Q", chunk_size), struct.pack("<I", passes))
    prev = sha(partition_seed, struct.pack("<Q", chunk_id))
    n = chunk_size // CELL
    cells = []
    for j in range(n):
        prev = sha(prev, struct.pack("<Q", j))
        cells.append(prev)
    for _ in range(passes):
        for j in range(n):
            p = cells[j - 1]  # j = 0 wraps to the last cell
            r = struct.unpack("<Q", p[:8])[0] % n
            cells[j] = sha(p, cells[r], cells[j])
    return b"".join(cells)


def merkle_root(chunk):
    level = [sha(b"\x00", chunk[i:i + SEGMENT]) for i in range(0, len(chunk), SEGMENT)]
    while len(level) > 1:
        level = [sha(b"\x01", level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


EMPTY = bytes(32)
GROUP = 64


def partition_root(leaves):
    """The partition root over chunk roots (challenges v2): groups of 64 leaves padded with
    EMPTY, then the group nodes padded with EMPTY to a power of two, all with prefix 0x02."""
    def tree(level):
        while len(level) > 1:
            level = [sha(b"\x02", level[i], level[i + 1]) for i in range(0, len(level), 2)]
        return level[0]
    groups = []
    for g in range(0, len(leaves), GROUP):
        group = leaves[g:g + GROUP]
        groups.append(tree(group + [EMPTY] * (GROUP - len(group))))
    if not groups:
        return EMPTY
    width = 1
    while width < len(groups):
        width *= 2
    return tree(groups + [EMPTY] * (width - len(groups)))


if __name__ == "__main__" and sys.argv[1:2] == ["partition"]:
    n = int(sys.argv[2])
    print(partition_root([sha(struct.pack("<Q", i)) for i in range(n)]).hex())
elif __name__ == "__main__":
    miner, validator = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2])
    size, passes, cid = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    data = seal(miner, validator, size, passes, cid)
    print(data[:16].hex(), merkle_root(data).hex())
