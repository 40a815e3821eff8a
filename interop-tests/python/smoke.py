"""Smoke flow against a running PDS with the Python `atproto` SDK (PyPI; code we did not write).

Run through ./run.sh, which starts `relay plc serve` + `relay serve` (the same start logic as
interop-tests/e2e/run.sh) and sets PDS_URL and PLC_URL. Steps run in order and share state; a
step whose input an earlier step failed to produce FAILS saying so (nothing is skipped). Exit
status 1 if any step failed.

Steps: create account, login (handle and DID), upload an image and post it, get and list
records, like and unlike, put a profile, delete a post, download the repo with getRepo and check
it independently (every block's sha-256 against its CID, the commit signature against the key
in the DID document that `atproto_identity` resolves from our PLC directory).
"""

from __future__ import annotations

import hashlib
import os
import random
import string
import struct
import sys
import traceback
import warnings
import zlib
from urllib.parse import urlsplit
from typing import Any, Callable, Dict, List, Optional, Tuple

import libipld
from atproto import CAR, Client, models
from atproto_client.exceptions import RequestErrorBase
from atproto_crypto.verify import verify_signature
from atproto_identity.resolver import IdResolver

PDS_URL = os.environ.get('PDS_URL', '').rstrip('/')
PLC_URL = os.environ.get('PLC_URL', '').rstrip('/')


def random_suffix(n: int = 6) -> str:
    return ''.join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def make_png(width: int = 12, height: int = 12) -> bytes:
    """A small, real RGB PNG (no fixture file)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))

    raw = b''.join(
        b'\x00' + b''.join(bytes((x * 20 % 256, y * 20 % 256, (x * y) % 256)) for x in range(width))
        for y in range(height)
    )
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')


def describe(e: BaseException) -> str:
    """One line for a failure: XRPC status and error name when the SDK raised a request error."""
    if isinstance(e, RequestErrorBase) and e.response is not None:
        content = e.response.content
        name = getattr(content, 'error', None)
        message = getattr(content, 'message', None)
        return f'HTTP {e.response.status_code} {name or ""}: {message or content}'
    return f'{type(e).__name__}: {e}'


class Failure(Exception):
    """A step's check failed (message says what was expected and what came back)."""


def check(cond: bool, message: str) -> None:
    if not cond:
        raise Failure(message)


def read_varint(data: bytes, pos: int) -> Tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise Failure('CAR: truncated varint')
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def car_sections(car: bytes) -> List[Tuple[bytes, bytes]]:
    """(CID bytes, block bytes) of every section of a CAR v1 (our own small reader)."""
    header_len, pos = read_varint(car, 0)
    pos += header_len
    out = []
    while pos < len(car):
        length, pos = read_varint(car, pos)
        end = pos + length
        start = pos
        version, pos = read_varint(car, pos)
        check(version == 1, f'CAR: CID version {version}, expected 1')
        _codec, pos = read_varint(car, pos)
        _mh_code, pos = read_varint(car, pos)
        mh_len, pos = read_varint(car, pos)
        pos += mh_len
        out.append((car[start:pos], car[pos:end]))
        pos = end
    return out


class Smoke:
    def __init__(self) -> None:
        self.state: Dict[str, Any] = {}
        self.results: List[Tuple[str, Optional[str]]] = []
        self.handle = f'py-{random_suffix()}.test'
        self.email = f'{self.handle.split(".")[0]}@example.com'
        self.password = f'pw-{random_suffix(12)}'
        self.png = make_png()

    def need(self, *keys: str) -> List[Any]:
        missing = [k for k in keys if k not in self.state]
        if missing:
            raise Failure(f'cannot run: needs {", ".join(missing)} from an earlier step that failed')
        return [self.state[k] for k in keys]

    def step(self, name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Failure as e:
            self.results.append((name, str(e)))
            print(f'FAIL {name}: {e}', flush=True)
        except Exception as e:  # noqa: BLE001 - every SDK error is a failed step
            self.results.append((name, describe(e)))
            print(f'FAIL {name}: {describe(e)}', flush=True)
            if os.environ.get('SMOKE_TRACEBACK'):
                traceback.print_exc()
        else:
            self.results.append((name, None))
            print(f'ok   {name}', flush=True)

    # --- steps -------------------------------------------------------------------------------

    def create_account(self) -> None:
        client = Client(base_url=PDS_URL)
        res = client.com.atproto.server.create_account(
            models.ComAtprotoServerCreateAccount.Data(
                handle=self.handle, email=self.email, password=self.password
            )
        )
        check(res.did.startswith('did:plc:'), f'createAccount did {res.did!r} is not a did:plc')
        check(res.handle == self.handle, f'createAccount handle {res.handle!r}, expected {self.handle!r}')
        self.state['did'] = res.did

    def login_defaults(self) -> None:
        (did,) = self.need('did')
        client = Client(base_url=PDS_URL)
        # The SDK's default login also looks up the Bluesky profile (app.bsky.actor.getProfile);
        # this server runs with no AppView, so the lookup must be answered as "not served"
        # (404/501) for the login to succeed, with `me` left None and a warning.
        # (REFERENCE=1: the dev-env reference proxies to an unreachable AppView, 502.)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            try:
                client.login(did, self.password)
            except RequestErrorBase as e:
                if os.environ.get('REFERENCE') == '1' and e.response is not None and e.response.status_code == 502:
                    return
                raise
        check(client.me is None, 'no AppView: no profile')

    def login(self) -> None:
        (did,) = self.need('did')
        by_did = Client(base_url=PDS_URL)
        by_did.login(did, self.password, fetch_bsky_profile=False)
        check(by_did.me is None, 'no profile lookup was asked for')
        client = Client(base_url=PDS_URL)
        client.login(self.handle, self.password, fetch_bsky_profile=False)
        session = client._session  # noqa: SLF001 - the SDK exposes no public getter
        check(session is not None and session.did == did, f'session did {getattr(session, "did", None)!r}')
        check(session.handle == self.handle, f'session handle {session.handle!r}')
        got = client.com.atproto.server.get_session()
        check(got.did == did, f'getSession did {got.did!r}')
        self.state['client'] = client

    def post_with_image(self) -> None:
        client, did = self.need('client', 'did')
        # The SDK's helpers take the repo from `client.me` (an AppView profile); with no AppView
        # behind the PDS, name the repo explicitly.
        res = client.send_image(
            text='hello from the Python atproto SDK', image=self.png, image_alt='a gradient', profile_identify=did
        )
        check(res.uri.startswith(f'at://{did}/app.bsky.feed.post/'), f'post uri {res.uri!r}')
        self.state['post'] = res

    def get_post(self) -> None:
        client, did, post = self.need('client', 'did', 'post')
        rkey = post.uri.rsplit('/', 1)[1]
        got = client.get_post(rkey, did)
        check(got.cid == post.cid, f'get_post cid {got.cid!r}, expected {post.cid!r}')
        check(got.value.text == 'hello from the Python atproto SDK', f'post text {got.value.text!r}')
        images = got.value.embed.images
        check(len(images) == 1 and images[0].image.mime_type == 'image/png', 'one PNG image in the embed')
        check(images[0].image.size == len(self.png), 'image size')
        blob_cid = images[0].image.ref.link
        data = client.com.atproto.sync.get_blob(models.ComAtprotoSyncGetBlob.Params(did=did, cid=blob_cid))
        check(data == self.png, 'getBlob returns the uploaded PNG bytes')

    def list_records(self) -> None:
        client, did, post = self.need('client', 'did', 'post')
        extra = [client.send_post(text=f'python post {i}', profile_identify=did) for i in range(2)]
        res = client.com.atproto.repo.list_records(
            models.ComAtprotoRepoListRecords.Params(repo=did, collection='app.bsky.feed.post', limit=10)
        )
        uris = [r.uri for r in res.records]
        expected = [extra[1].uri, extra[0].uri, post.uri]
        check(uris == expected, f'listRecords (newest first) {uris}, expected {expected}')
        self.state['extra_posts'] = extra

    def like_unlike(self) -> None:
        client, did, post = self.need('client', 'did', 'post')
        like = client.app.bsky.feed.like.create(
            did,
            models.AppBskyFeedLike.Record(
                subject=models.ComAtprotoRepoStrongRef.Main(uri=post.uri, cid=post.cid),
                created_at=client.get_current_time_iso(),
            ),
        )
        check(like.uri.startswith(f'at://{did}/app.bsky.feed.like/'), f'like uri {like.uri!r}')
        res = client.com.atproto.repo.list_records(
            models.ComAtprotoRepoListRecords.Params(repo=did, collection='app.bsky.feed.like')
        )
        check([r.uri for r in res.records] == [like.uri], 'one like listed')
        check(client.unlike(like.uri), 'unlike returned false')
        res = client.com.atproto.repo.list_records(
            models.ComAtprotoRepoListRecords.Params(repo=did, collection='app.bsky.feed.like')
        )
        check(res.records == [], f'likes after unlike: {[r.uri for r in res.records]}')
        self.state['liked'] = True

    def put_profile(self) -> None:
        client, did = self.need('client', 'did')
        res = client.com.atproto.repo.put_record(
            models.ComAtprotoRepoPutRecord.Data(
                repo=did,
                collection='app.bsky.actor.profile',
                rkey='self',
                record=models.AppBskyActorProfile.Record(display_name='Py Smoke'),
            )
        )
        check(res.uri == f'at://{did}/app.bsky.actor.profile/self', f'putRecord uri {res.uri!r}')
        got = client.com.atproto.repo.get_record(
            models.ComAtprotoRepoGetRecord.Params(repo=did, collection='app.bsky.actor.profile', rkey='self')
        )
        check(got.cid == res.cid, 'getRecord cid is the putRecord cid')
        check(got.value.display_name == 'Py Smoke', f'profile value {got.value!r}')
        self.state['profile_cid'] = res.cid

    def delete_post(self) -> None:
        client, extra = self.need('client', 'extra_posts')
        check(client.delete_post(extra[0].uri), 'delete_post returned false')
        try:
            client.get_post(extra[0].uri.rsplit('/', 1)[1], self.state['did'])
        except RequestErrorBase as e:
            content = e.response.content if e.response is not None else None
            check(
                e.response is not None and e.response.status_code == 400 and getattr(content, 'error', None) == 'RecordNotFound',
                f'getRecord of the deleted post: expected 400 RecordNotFound, got {describe(e)}',
            )
        else:
            raise Failure('getRecord of the deleted post succeeded')
        self.state['deleted'] = extra[0].uri

    def did_document(self) -> None:
        (did,) = self.need('did')
        resolver = IdResolver(plc_url=PLC_URL)
        data = resolver.did.resolve_atproto_data(did)
        check(data.did == did, f'resolved did {data.did!r}')
        check(data.handle == self.handle, f'DID document handle {data.handle!r}, expected {self.handle!r}')
        check(
            urlsplit(data.pds).port == urlsplit(PDS_URL).port,
            f'DID document PDS endpoint {data.pds!r} is not this server ({PDS_URL})',
        )
        check(data.signing_key.startswith('did:key:z'), f'signing key {data.signing_key!r}')
        self.state['signing_key'] = data.signing_key

    def get_repo(self) -> None:
        client, did, key, post, extra, deleted = self.need(
            'client', 'did', 'signing_key', 'post', 'extra_posts', 'deleted'
        )
        self.need('liked', 'profile_cid')
        car_bytes = client.com.atproto.sync.get_repo(models.ComAtprotoSyncGetRepo.Params(did=did))
        car = CAR.from_bytes(car_bytes)
        sections = car_sections(car_bytes)
        check(len(sections) >= len(car.blocks) > 0, 'CAR has blocks')
        raw: Dict[str, bytes] = {}
        for cid_bytes, block in sections:
            cid = libipld.decode_cid(cid_bytes)
            check(cid['hash']['code'] == 0x12, 'blocks are sha-256')
            check(hashlib.sha256(block).digest() == bytes(cid['hash']['digest']), f'block hash mismatch for {cid}')
            raw[libipld.encode_cid(cid_bytes)] = block
        root = str(car.root)
        check(root in raw, 'the root commit block is in the CAR')
        commit = libipld.decode_dag_cbor(raw[root])
        check(commit['did'] == did and commit['version'] == 3, f'commit did/version {commit.get("did")} {commit.get("version")}')
        check(libipld.encode_dag_cbor(commit) == raw[root], 'the commit block round-trips through libipld')
        unsigned = {k: v for k, v in commit.items() if k != 'sig'}
        check(
            verify_signature(key, libipld.encode_dag_cbor(unsigned), commit['sig']),
            'commit signature does not verify with the signing key from the DID document',
        )
        latest = client.com.atproto.sync.get_latest_commit(models.ComAtprotoSyncGetLatestCommit.Params(did=did))
        check(latest.cid == root, f'getLatestCommit cid {latest.cid}, CAR root {root}')
        check(latest.rev == commit['rev'], 'getLatestCommit rev')
        records = [b for b in car.blocks.values() if isinstance(b, dict) and '$type' in b]
        texts = sorted(r.get('text', '') for r in records if r['$type'] == 'app.bsky.feed.post')
        check(
            texts == sorted(['hello from the Python atproto SDK', 'python post 1']),
            f'posts in the repo: {texts} (the deleted one must be gone)',
        )
        check(not any(r['$type'] == 'app.bsky.feed.like' for r in records), 'no like left in the repo')
        check(any(r['$type'] == 'app.bsky.actor.profile' for r in records), 'the profile is in the repo')

    def run(self) -> int:
        if not PDS_URL or not PLC_URL:
            print('PDS_URL and PLC_URL must be set: run interop-tests/python/run.sh', file=sys.stderr)
            return 2
        print(f'Python atproto SDK smoke against {PDS_URL} (PLC {PLC_URL}), handle {self.handle}')
        self.step('createAccount', self.create_account)
        self.step('login by DID and by handle, getSession', self.login)
        self.step("login with the SDK's defaults (profile lookup, no AppView)", self.login_defaults)
        self.step('uploadBlob + post with the image (send_image)', self.post_with_image)
        self.step('get_post (getRecord) and sync.getBlob', self.get_post)
        self.step('listRecords newest first', self.list_records)
        self.step('like, listRecords, unlike (deleteRecord)', self.like_unlike)
        self.step('putRecord profile + getRecord', self.put_profile)
        self.step('delete_post, then getRecord is RecordNotFound', self.delete_post)
        self.step('DID document from our PLC directory (atproto_identity)', self.did_document)
        self.step('getRepo: block hashes, commit signature, contents; getLatestCommit', self.get_repo)
        failed = [name for name, err in self.results if err]
        print(f'{len(self.results) - len(failed)} passed, {len(failed)} failed')
        return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(Smoke().run())
