"""Every S3 call the gateway answers, made with boto3 against a running validator, and the
requests it must refuse. Run by `cargo test -p tessera-client --test it -- s3`; the endpoint and
two owners' key pairs come in the environment. Prints one line per check; exits non-zero at the
first that fails."""

import base64
import datetime
import hashlib
import hmac
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
KEY, SECRET = os.environ["S3_KEY"], os.environ["S3_SECRET"]
OTHER_KEY, OTHER_SECRET = os.environ["S3_OTHER_KEY"], os.environ["S3_OTHER_SECRET"]
HOST = urllib.parse.urlparse(ENDPOINT).netloc
PORT = int(HOST.rsplit(":", 1)[1])
MiB = 1 << 20


def client(key=KEY, secret=SECRET, style="path", endpoint=ENDPOINT):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": style}, signature_version="s3v4",
                      retries={"max_attempts": 1}),
    )


def ok(name):
    print(f"ok {name}", flush=True)


def fail(message):
    print(f"FAILED {message}", flush=True)
    sys.exit(1)


def expect_error(code, call, *args, status=None, **kwargs):
    try:
        call(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        http = e.response["ResponseMetadata"]["HTTPStatusCode"]
        if got != code or (status is not None and http != status):
            fail(f"{call.__name__}: wanted {code} {status}, got {got} {http}: {e}")
        return e
    fail(f"{call.__name__} succeeded where {code} was wanted")


def check(cond, message):
    if not cond:
        fail(message)


def data(n, seed):
    # Deterministic bytes that differ at every offset, so a shifted range cannot pass.
    out = bytearray()
    block = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{block}".encode()).digest()
        block += 1
    return bytes(out[:n])


def md5(b):
    return hashlib.md5(b).hexdigest()


s3 = client()
other = client(OTHER_KEY, OTHER_SECRET)

# Buckets.
s3.create_bucket(Bucket="photos")
s3.create_bucket(Bucket="empty-one")
names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
check(names == ["empty-one", "photos"], f"list_buckets: {names}")
s3.head_bucket(Bucket="photos")
loc = s3.get_bucket_location(Bucket="photos")
check(loc.get("LocationConstraint") in (None, ""), f"location: {loc}")
expect_error("BucketAlreadyOwnedByYou", s3.create_bucket, Bucket="photos", status=409)
expect_error("404", s3.head_bucket, Bucket="nobody-has-this")
expect_error("NoSuchBucket", s3.list_objects_v2, Bucket="nobody-has-this", status=404)
s3.delete_bucket(Bucket="empty-one")
expect_error("404", s3.head_bucket, Bucket="empty-one")
ok("buckets")

# PutObject, HeadObject, GetObject with its metadata.
small = data(1000, "small")
put = s3.put_object(
    Bucket="photos",
    Key="hello.txt",
    Body=small,
    ContentType="text/plain; charset=utf-8",
    ContentDisposition='attachment; filename="hello.txt"',
    CacheControl="max-age=60",
    Metadata={"colour": "blue", "tessera-ttl": "3600"},
)
check(put["ETag"] == f'"{md5(small)}"', f"put etag {put['ETag']}")
head = s3.head_object(Bucket="photos", Key="hello.txt")
check(head["ContentLength"] == 1000, f"head length {head}")
check(head["ContentType"] == "text/plain; charset=utf-8", f"content type {head}")
check(head["ContentDisposition"] == 'attachment; filename="hello.txt"', f"disposition {head}")
check(head["CacheControl"] == "max-age=60", f"cache control {head}")
check(head["Metadata"].get("colour") == "blue", f"metadata {head['Metadata']}")
check(head["ETag"] == put["ETag"], "head etag")
age = head["LastModified"].timestamp() - time.time()
check(abs(age) < 120, f"last modified {head['LastModified']}")
got = s3.get_object(Bucket="photos", Key="hello.txt")
check(got["Body"].read() == small, "get bytes")
check(got["ContentType"] == "text/plain; charset=utf-8", "get content type")
ok("put, head and get with metadata")

# The TTL header: an hour, as the metadata asked.
expiry = head.get("Expiration", "")
check("expiry-date" in expiry, f"expiration {head}")
expect_error(
    "InvalidArgument", s3.put_object, Bucket="photos", Key="ttl-bad", Body=b"x",
    Metadata={"tessera-ttl": "soon"},
)
ok("ttl")

# A bucket's default TTL (x-tessera-ttl on CreateBucket): its objects expire, vanish from reads
# and listings at once, and the sweep deletes them so the bucket can go.
def ttl_header(request, **kwargs):
    request.headers["x-tessera-ttl"] = "3"


s3.meta.events.register("before-sign.s3.CreateBucket", ttl_header)
s3.create_bucket(Bucket="brief")
s3.meta.events.unregister("before-sign.s3.CreateBucket", ttl_header)
s3.put_object(Bucket="brief", Key="soon-gone", Body=b"x" * 100)
check(s3.get_object(Bucket="brief", Key="soon-gone")["Body"].read() == b"x" * 100, "brief get")
time.sleep(4)
expect_error("NoSuchKey", s3.get_object, Bucket="brief", Key="soon-gone", status=404)
check(s3.list_objects_v2(Bucket="brief")["KeyCount"] == 0, "expired object listed")
for attempt in range(40):
    try:
        s3.delete_bucket(Bucket="brief")
        break
    except ClientError as e:
        check(e.response["Error"]["Code"] == "BucketNotEmpty", f"delete brief: {e}")
        time.sleep(0.5)
else:
    fail("the sweep never deleted the expired object")
ok("bucket default ttl and expiry")

# Keys: any UTF-8 up to 1024 bytes, with slashes.
odd = "dir/sub dir/ünï cødé ✓ +&?=#%.txt"
s3.put_object(Bucket="photos", Key=odd, Body=b"odd")
check(s3.get_object(Bucket="photos", Key=odd)["Body"].read() == b"odd", "odd key")
longest = "k/" + "x" * 1022
s3.put_object(Bucket="photos", Key=longest, Body=b"long")
check(s3.get_object(Bucket="photos", Key=longest)["Body"].read() == b"long", "1024-byte key")
expect_error("KeyTooLongError", s3.put_object, Bucket="photos", Key=longest + "y", Body=b"")
s3.put_object(Bucket="photos", Key="empty", Body=b"")
e = s3.get_object(Bucket="photos", Key="empty")
check(e["Body"].read() == b"" and e["ETag"] == f'"{md5(b"")}"', "empty object")
ok("keys")

# Ranged reads at awkward offsets, across segment boundaries.
big = data(3 * MiB + 12345, "big")
s3.put_object(Bucket="photos", Key="big.bin", Body=big)
for r, (a, b) in {
    "bytes=0-0": (0, 1),
    "bytes=1-131071": (1, 131072),
    "bytes=131071-131072": (131071, 131073),
    "bytes=65535-1048577": (65535, 1048578),
    f"bytes={len(big) - 1}-": (len(big) - 1, len(big)),
    "bytes=-1000": (len(big) - 1000, len(big)),
    "bytes=3000000-": (3000000, len(big)),
    f"bytes=100-{len(big) + 500}": (100, len(big)),
}.items():
    part = s3.get_object(Bucket="photos", Key="big.bin", Range=r)
    body = part["Body"].read()
    check(body == big[a:b], f"range {r}: {len(body)} bytes, wanted {b - a}")
    check(part["ContentRange"] == f"bytes {a}-{b - 1}/{len(big)}", f"{r}: {part['ContentRange']}")
    check(part["ResponseMetadata"]["HTTPStatusCode"] == 206, f"{r} status")
check(s3.get_object(Bucket="photos", Key="big.bin")["Body"].read() == big, "whole big")
expect_error("InvalidRange", s3.get_object, Bucket="photos", Key="big.bin",
             Range=f"bytes={len(big)}-", status=416)
ok("ranges")

# Conditional reads.
tag = put["ETag"]
s3.get_object(Bucket="photos", Key="hello.txt", IfMatch=tag)
expect_error("PreconditionFailed", s3.get_object, Bucket="photos", Key="hello.txt",
             IfMatch='"0123"', status=412)
expect_error("304", s3.get_object, Bucket="photos", Key="hello.txt", IfNoneMatch=tag)
s3.get_object(Bucket="photos", Key="hello.txt", IfNoneMatch='"0123"')
future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
expect_error("304", s3.get_object, Bucket="photos", Key="hello.txt", IfModifiedSince=future)
s3.get_object(Bucket="photos", Key="hello.txt", IfModifiedSince=past)
expect_error("304", s3.head_object, Bucket="photos", Key="hello.txt", IfNoneMatch=tag)
expect_error("412", s3.head_object, Bucket="photos", Key="hello.txt", IfUnmodifiedSince=past)
ok("conditional reads")

# CopyObject: same bytes, metadata kept or replaced; the copy outlives its source.
s3.copy_object(Bucket="photos", Key="copy.txt", CopySource={"Bucket": "photos", "Key": "hello.txt"})
c = s3.head_object(Bucket="photos", Key="copy.txt")
check(c["Metadata"].get("colour") == "blue" and c["ETag"] == tag, f"copy head {c}")
s3.copy_object(Bucket="photos", Key="copy.txt", CopySource={"Bucket": "photos", "Key": "copy.txt"},
               MetadataDirective="REPLACE", Metadata={"colour": "red"}, ContentType="text/x-copy")
c = s3.head_object(Bucket="photos", Key="copy.txt")
check(c["Metadata"] == {"colour": "red"} and c["ContentType"] == "text/x-copy", f"replaced {c}")
expect_error("InvalidRequest", s3.copy_object, Bucket="photos", Key="copy.txt",
             CopySource={"Bucket": "photos", "Key": "copy.txt"})
s3.delete_object(Bucket="photos", Key="hello.txt")
expect_error("NoSuchKey", s3.get_object, Bucket="photos", Key="hello.txt", status=404)
check(s3.get_object(Bucket="photos", Key="copy.txt")["Body"].read() == small, "copy after delete")
ok("copy")

# Listings: prefix, delimiter, max-keys, continuation, start-after; version 1 with markers.
s3.create_bucket(Bucket="tree")
keys = ["a/1", "a/2", "a/b/3", "b/1", "c", "d/e/f", "d/e/g", "e"]
for k in keys:
    s3.put_object(Bucket="tree", Key=k, Body=k.encode())
flat = s3.list_objects_v2(Bucket="tree")
check([o["Key"] for o in flat["Contents"]] == keys, f"flat {flat.get('Contents')}")
check(all(o["ETag"] == f'"{md5(o["Key"].encode())}"' for o in flat["Contents"]), "listed etags")
top = s3.list_objects_v2(Bucket="tree", Delimiter="/")
check([p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "b/", "d/"], f"prefixes {top}")
check([o["Key"] for o in top["Contents"]] == ["c", "e"], f"top contents {top}")
sub = s3.list_objects_v2(Bucket="tree", Prefix="a/", Delimiter="/")
check([o["Key"] for o in sub["Contents"]] == ["a/1", "a/2"], f"a/ {sub}")
check([p["Prefix"] for p in sub["CommonPrefixes"]] == ["a/b/"], f"a/ prefixes {sub}")
seen, token, pages = [], None, 0
while True:
    kw = {"ContinuationToken": token} if token else {}
    page = s3.list_objects_v2(Bucket="tree", Delimiter="/", MaxKeys=2, **kw)
    pages += 1
    seen += [o["Key"] for o in page.get("Contents", [])]
    seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    if not page["IsTruncated"]:
        break
    token = page["NextContinuationToken"]
check(sorted(seen) == ["a/", "b/", "c", "d/", "e"] and pages == 3, f"pages {pages}: {seen}")
after = s3.list_objects_v2(Bucket="tree", StartAfter="b/1")
check([o["Key"] for o in after["Contents"]] == ["c", "d/e/f", "d/e/g", "e"], f"start-after {after}")
v1 = s3.list_objects(Bucket="tree", MaxKeys=3)
check([o["Key"] for o in v1["Contents"]] == keys[:3] and v1["IsTruncated"], f"v1 {v1}")
v1 = s3.list_objects(Bucket="tree", Marker="a/b/3")
check([o["Key"] for o in v1["Contents"]] == keys[3:], f"v1 marker {v1}")
paginated = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="tree", PaginationConfig={"PageSize": 3}) for o in p.get("Contents", [])]
check(paginated == keys, f"paginator {paginated}")
ok("listings")

# Multipart: 8 parts of 8 MiB, listed, completed, read back whole and across part edges.
parts_data = [data(8 * MiB, f"part{i}") for i in range(8)]
whole = b"".join(parts_data)
up = s3.create_multipart_upload(Bucket="photos", Key="multi.bin", ContentType="application/x-multi",
                                Metadata={"kind": "multi"})
uid = up["UploadId"]
listed = s3.list_multipart_uploads(Bucket="photos")
check([u["UploadId"] for u in listed.get("Uploads", [])] == [uid], f"uploads {listed}")
done = []
for i, p in enumerate(parts_data):
    r = s3.upload_part(Bucket="photos", Key="multi.bin", UploadId=uid, PartNumber=i + 1, Body=p)
    check(r["ETag"] == f'"{md5(p)}"', f"part {i + 1} etag")
    done.append({"PartNumber": i + 1, "ETag": r["ETag"]})
lp = s3.list_parts(Bucket="photos", Key="multi.bin", UploadId=uid)
check([p["PartNumber"] for p in lp["Parts"]] == list(range(1, 9)), f"list_parts {lp}")
check(all(p["Size"] == 8 * MiB for p in lp["Parts"]), "part sizes")
lp2 = s3.list_parts(Bucket="photos", Key="multi.bin", UploadId=uid, MaxParts=3, PartNumberMarker=3)
check([p["PartNumber"] for p in lp2["Parts"]] == [4, 5, 6] and lp2["IsTruncated"], f"parts page {lp2}")
expect_error("InvalidArgument", s3.upload_part, Bucket="photos", Key="multi.bin", UploadId=uid,
             PartNumber=10001, Body=b"x")
expect_error("InvalidPart", s3.complete_multipart_upload, Bucket="photos", Key="multi.bin",
             UploadId=uid, MultipartUpload={"Parts": done + [{"PartNumber": 9, "ETag": '"00"'}]})
expect_error("InvalidPartOrder", s3.complete_multipart_upload, Bucket="photos", Key="multi.bin",
             UploadId=uid, MultipartUpload={"Parts": [done[1], done[0]]})
expect_error("InvalidPart", s3.complete_multipart_upload, Bucket="photos", Key="multi.bin",
             UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"%s"' % ("0" * 32)}]})
c = s3.complete_multipart_upload(Bucket="photos", Key="multi.bin", UploadId=uid,
                                 MultipartUpload={"Parts": done})
want = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts_data)).hexdigest() + "-8"
check(c["ETag"] == f'"{want}"', f"multipart etag {c['ETag']} != {want}")
h = s3.head_object(Bucket="photos", Key="multi.bin")
check(h["ContentLength"] == 64 * MiB and h["ETag"] == c["ETag"], f"multi head {h}")
check(h["ContentType"] == "application/x-multi" and h["Metadata"] == {"kind": "multi"}, f"multi meta {h}")
check(s3.get_object(Bucket="photos", Key="multi.bin")["Body"].read() == whole, "multipart bytes")
for a, b in [(8 * MiB - 10, 8 * MiB + 10), (3, 17 * MiB + 5), (64 * MiB - 7, 64 * MiB)]:
    got = s3.get_object(Bucket="photos", Key="multi.bin", Range=f"bytes={a}-{b - 1}")["Body"].read()
    check(got == whole[a:b], f"multipart range {a}-{b}")
check(not s3.list_multipart_uploads(Bucket="photos").get("Uploads"), "upload still listed")
expect_error("NoSuchUpload", s3.upload_part, Bucket="photos", Key="multi.bin", UploadId=uid,
             PartNumber=1, Body=b"late")
ok("multipart 8 x 8 MiB")

# Parts under 5 MiB but the last are refused at completion; an aborted upload is gone.
up2 = s3.create_multipart_upload(Bucket="photos", Key="aborted.bin")["UploadId"]
small_parts = []
for n in (1, 2):
    r = s3.upload_part(Bucket="photos", Key="aborted.bin", UploadId=up2, PartNumber=n,
                       Body=data(MiB, f"ab{n}"))
    small_parts.append({"PartNumber": n, "ETag": r["ETag"]})
expect_error("EntityTooSmall", s3.complete_multipart_upload, Bucket="photos", Key="aborted.bin",
             UploadId=up2, MultipartUpload={"Parts": small_parts})
s3.abort_multipart_upload(Bucket="photos", Key="aborted.bin", UploadId=up2)
check(not s3.list_multipart_uploads(Bucket="photos").get("Uploads"), "aborted upload listed")
expect_error("NoSuchUpload", s3.list_parts, Bucket="photos", Key="aborted.bin", UploadId=up2, status=404)
expect_error("404", s3.head_object, Bucket="photos", Key="aborted.bin")
ok("entity too small and abort")

# Content-MD5 that the body does not match: refused, nothing stored.
expect_error("BadDigest", s3.put_object, Bucket="photos", Key="lying.bin", Body=b"abc" * 1000,
             ContentMD5=base64.b64encode(hashlib.md5(b"other").digest()).decode(), status=400)
expect_error("404", s3.head_object, Bucket="photos", Key="lying.bin")
s3.put_object(Bucket="photos", Key="honest.bin", Body=b"abc" * 1000,
              ContentMD5=base64.b64encode(hashlib.md5(b"abc" * 1000).digest()).decode())
ok("content-md5")

# An x-amz-checksum-crc32 that the body does not match: refused, nothing stored. (boto3 sends
# its own CRC32 with every upload; one given here is sent instead.)
expect_error("BadDigest", s3.put_object, Bucket="photos", Key="crc.bin", Body=b"abc" * 1000,
             ChecksumCRC32=base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode(),
             status=400)
expect_error("404", s3.head_object, Bucket="photos", Key="crc.bin")
s3.put_object(Bucket="photos", Key="crc.bin", Body=b"abc" * 1000,
              ChecksumCRC32=base64.b64encode(zlib.crc32(b"abc" * 1000).to_bytes(4, "big")).decode())
ok("x-amz-checksum-crc32")

# A presigned GET, fetched by curl; path- and virtual-host-style; an expired one refused.
url = s3.generate_presigned_url("get_object", Params={"Bucket": "photos", "Key": "big.bin"}, ExpiresIn=300)
fetched = subprocess.run(["curl", "-sf", url], capture_output=True, check=True).stdout
check(fetched == big, "presigned get")
vurl = client(style="virtual", endpoint=f"http://localhost:{PORT}").generate_presigned_url(
    "get_object", Params={"Bucket": "photos", "Key": "copy.txt"}, ExpiresIn=300)
check("photos.localhost" in vurl, vurl)
fetched = subprocess.run(["curl", "-sf", "--resolve", f"photos.localhost:{PORT}:127.0.0.1", vurl],
                         capture_output=True, check=True).stdout
check(fetched == small, "virtual-host presigned get")
short = s3.generate_presigned_url("get_object", Params={"Bucket": "photos", "Key": "copy.txt"}, ExpiresIn=1)
time.sleep(2.5)
r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", short], capture_output=True)
check(r.stdout == b"403", f"expired presigned url: {r.stdout}")
r = subprocess.run(["curl", "-s", short], capture_output=True)
check(b"AccessDenied" in r.stdout or b"Expired" in r.stdout, f"expired body {r.stdout[:300]}")
ok("presigned urls")

# A wrong secret, and another owner's bucket.
bad = client(KEY, "x" * 40)
expect_error("SignatureDoesNotMatch", bad.list_buckets, status=403)
expect_error("SignatureDoesNotMatch", bad.put_object, Bucket="photos", Key="intruder", Body=b"x")
expect_error("InvalidAccessKeyId", client("TSRNOSUCHKEYATALL0000", SECRET).list_buckets, status=403)
expect_error("AccessDenied", other.list_objects_v2, Bucket="photos", status=403)
expect_error("AccessDenied", other.get_object, Bucket="photos", Key="copy.txt", status=403)
expect_error("AccessDenied", other.put_object, Bucket="photos", Key="intruder", Body=b"x", status=403)
expect_error("AccessDenied", other.delete_bucket, Bucket="photos", status=403)
check(other.list_buckets()["Buckets"] == [], "another owner sees buckets")
other.create_bucket(Bucket="photos")
check(other.list_objects_v2(Bucket="photos").get("KeyCount") == 0, "other owner's photos not empty")
other.put_object(Bucket="photos", Key="copy.txt", Body=b"theirs")
check(s3.get_object(Bucket="photos", Key="copy.txt")["Body"].read() == small, "owners' buckets mixed")
expect_error("404", s3.head_object, Bucket="photos", Key="intruder")
ok("wrong secret and other owners")


# Hand-signed requests, for what boto3 never sends: signed chunks, a skewed clock, a lying
# Content-Length.
def signing_key(secret, date):
    k = ("AWS4" + secret).encode()
    for part in (date, "us-east-1", "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def signed_headers(method, path, headers, payload_hash, when):
    amz = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz[:8]
    headers = dict(headers, host=HOST, **{"x-amz-date": amz, "x-amz-content-sha256": payload_hash})
    names = sorted(k.lower() for k in headers)
    canonical = "\n".join([
        method, urllib.parse.quote(path, safe="/~"), "",
        "".join(f"{n}:{str(headers[n]).strip()}\n" for n in names),
        ";".join(names), payload_hash,
    ])
    scope = f"{date}/us-east-1/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = signing_key(SECRET, date)
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={KEY}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={sig}")
    return headers, key, amz, scope, sig


def raw(method, path, headers, body, close_after=None, stall_after=None):
    """Sends one request on a fresh socket; returns (status, body). With `close_after`, sends
    only that many body bytes and shuts the write side (a body cut short); with `stall_after`,
    sends that many and then nothing, the socket left open (a client that stopped)."""
    s = socket.create_connection(("127.0.0.1", PORT))
    head = f"{method} {urllib.parse.quote(path, safe='/~')} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "connection: close\r\n\r\n"
    cut = close_after if close_after is not None else stall_after
    s.sendall(head.encode() + (body if cut is None else body[:cut]))
    if close_after is not None:
        s.shutdown(socket.SHUT_WR)
    reply = b""
    s.settimeout(30 if stall_after is None else 120)
    try:
        while chunk := s.recv(65536):
            reply += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    status = int(reply.split(b" ", 2)[1]) if reply else 0
    return status, reply


# A client that sends part of its body and then nothing: the gateway gives up on it after 60
# seconds of silence and stores nothing. It runs beside the checks below (which it must not
# hold up: it keeps one of the gateway's sealing turns while it waits) and is joined at the end.
def stalled_put(outcome):
    payload = data(200_000, "stalled")
    headers, *_ = signed_headers("PUT", "/photos/stalled.bin",
                                 {"content-length": str(len(payload))},
                                 hashlib.sha256(payload).hexdigest(),
                                 datetime.datetime.now(datetime.timezone.utc))
    outcome.append(raw("PUT", "/photos/stalled.bin", headers, payload, stall_after=1000))


stalled = []
stalled_thread = threading.Thread(target=stalled_put, args=(stalled,))
stalled_thread.start()


def signed_chunked_put(key, payload, chunk, corrupt=False):
    # Content-Length is signed, so the encoded length is worked out first: every chunk's
    # signature is 64 hex digits.
    sizes = [len(payload[i:i + chunk]) for i in range(0, len(payload), chunk)] + [0]
    encoded = b"x" * sum(len(f"{n:x};chunk-signature=".encode()) + 64 + 2 + n + 2 for n in sizes)
    when = datetime.datetime.now(datetime.timezone.utc)
    base = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(payload)),
            "content-length": str(len(encoded))}
    headers, k, amz, scope, previous = signed_headers(
        "PUT", f"/photos/{key}", base, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", when)
    body = b""
    for c in [payload[i:i + chunk] for i in range(0, len(payload), chunk)] + [b""]:
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz, scope, previous,
                             hashlib.sha256(b"").hexdigest(), hashlib.sha256(c).hexdigest()])
        sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        if corrupt and c and len(body) > 0:
            sig = "0" * 64
        body += f"{len(c):x};chunk-signature={sig}\r\n".encode() + c + b"\r\n"
        previous = sig
    return raw("PUT", f"/photos/{key}", headers, body)


streamed = data(300_000, "streamed")
status, reply = signed_chunked_put("streamed.bin", streamed, 64 * 1024)
check(status == 200, f"signed chunked put: {reply[:500]}")
check(s3.get_object(Bucket="photos", Key="streamed.bin")["Body"].read() == streamed, "streamed bytes")
status, reply = signed_chunked_put("forged.bin", streamed, 64 * 1024, corrupt=True)
check(status == 403 and b"SignatureDoesNotMatch" in reply, f"bad chunk signature: {status} {reply[:500]}")
expect_error("404", s3.head_object, Bucket="photos", Key="forged.bin")
ok("signed streaming chunks")


def trailer_put(key, payload, chunk, crc):
    # What aws-cli and boto3 send over TLS: an unsigned aws-chunked body whose CRC32 comes after
    # it, in a trailer.
    body = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n"
                    for c in [payload[i:i + chunk] for i in range(0, len(payload), chunk)])
    body += b"0\r\nx-amz-checksum-crc32:" + base64.b64encode(crc.to_bytes(4, "big")) + b"\r\n\r\n"
    base = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(payload)),
            "x-amz-trailer": "x-amz-checksum-crc32", "content-length": str(len(body))}
    headers, *_ = signed_headers("PUT", f"/photos/{key}", base, "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                                 datetime.datetime.now(datetime.timezone.utc))
    return raw("PUT", f"/photos/{key}", headers, body)


trailed = data(300_000, "trailed")
status, reply = trailer_put("trailed.bin", trailed, 64 * 1024, zlib.crc32(trailed))
check(status == 200, f"unsigned put with a checksum trailer: {reply[:500]}")
check(s3.get_object(Bucket="photos", Key="trailed.bin")["Body"].read() == trailed, "trailed bytes")
status, reply = trailer_put("mistrailed.bin", trailed, 64 * 1024, zlib.crc32(b"other"))
check(status == 400 and b"BadDigest" in reply, f"wrong checksum trailer: {status} {reply[:500]}")
expect_error("404", s3.head_object, Bucket="photos", Key="mistrailed.bin")
ok("checksum trailers")

skewed = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
headers, *_ = signed_headers("GET", "/photos/copy.txt", {}, hashlib.sha256(b"").hexdigest(), skewed)
status, reply = raw("GET", "/photos/copy.txt", headers, b"")
check(status == 403 and b"RequestTimeTooSkewed" in reply, f"skew: {status} {reply[:400]}")
ok("clock skew")

payload = data(200_000, "cut")
headers, *_ = signed_headers("PUT", "/photos/cut.bin", {"content-length": str(len(payload))},
                             hashlib.sha256(payload).hexdigest(),
                             datetime.datetime.now(datetime.timezone.utc))
status, reply = raw("PUT", "/photos/cut.bin", headers, payload, close_after=150_000)
check(status != 200, f"a cut-off body was stored: {reply[:300]}")
expect_error("404", s3.head_object, Bucket="photos", Key="cut.bin")
lying = data(1000, "lying")
headers, *_ = signed_headers("PUT", "/photos/lying2.bin", {"content-length": "1000"},
                             hashlib.sha256(b"not the body").hexdigest(),
                             datetime.datetime.now(datetime.timezone.utc))
status, reply = raw("PUT", "/photos/lying2.bin", headers, lying)
check(status in (400, 403), f"a body unlike its signed hash was stored: {status} {reply[:300]}")
expect_error("404", s3.head_object, Bucket="photos", Key="lying2.bin")
ok("truncated and lying bodies")

# DeleteObjects and DeleteBucket: refused while not empty.
expect_error("BucketNotEmpty", s3.delete_bucket, Bucket="tree", status=409)
r = s3.delete_objects(Bucket="tree", Delete={"Objects": [{"Key": k} for k in keys]})
check(sorted(d["Key"] for d in r["Deleted"]) == sorted(keys), f"delete_objects {r}")
check(s3.list_objects_v2(Bucket="tree")["KeyCount"] == 0, "tree not empty")
s3.delete_bucket(Bucket="tree")
expect_error("NoSuchBucket", s3.list_objects_v2, Bucket="tree")
ok("delete objects and bucket")
stalled_thread.join(timeout=150)
check(stalled and stalled[0][0] == 400 and b"IncompleteBody" in stalled[0][1],
      f"a stalled body: {stalled[0][:1] if stalled else 'no answer'} {stalled[0][1][:300] if stalled else ''}")
expect_error("404", s3.head_object, Bucket="photos", Key="stalled.bin")
ok("a stalled body")
print("all boto3 checks passed", flush=True)
