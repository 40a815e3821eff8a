"""The Python `atproto` SDK's firehose client decodes our subscribeRepos frames.

Run by run.sh after the Node tests (the relay then holds accounts, records, handle changes, an
activation and a deletion). Subscribes with cursor=0, lets the SDK parse every frame into its
pydantic models (`parse_subscribe_repos_message`), opens each #commit/#sync CAR with the SDK's
`CAR`, decodes the created records, and checks seq order and the message types seen.

    PDS_URL=http://127.0.0.1:PORT python firehose_check.py
"""

import importlib.metadata
import os
import sys
import threading
import time

from atproto import CAR, FirehoseSubscribeReposClient, models, parse_subscribe_repos_message

IDLE_SECONDS = 2.0
MAX_SECONDS = 60.0


def main() -> int:
    pds_url = os.environ.get('PDS_URL', '').rstrip('/')
    if not pds_url:
        print('PDS_URL must be set (run through interop-tests/firehose/run.sh)', file=sys.stderr)
        return 2
    base_uri = pds_url.replace('http', 'ws', 1) + '/xrpc'
    client = FirehoseSubscribeReposClient(params={'cursor': 0}, base_uri=base_uri, recv_timeout=10)

    seen = []
    errors = []
    last_message = [time.monotonic()]
    counts = {}
    records = [0]

    def on_message(frame) -> None:
        last_message[0] = time.monotonic()
        try:
            msg = parse_subscribe_repos_message(frame)
            kind = type(msg).__name__
            counts[kind] = counts.get(kind, 0) + 1
            seen.append(msg.seq)
            if isinstance(msg, models.ComAtprotoSyncSubscribeRepos.Commit):
                car = CAR.from_bytes(msg.blocks)
                assert str(car.root) == str(msg.commit), 'CAR root is the commit'
                assert msg.commit in car.blocks or str(msg.commit) in {str(c) for c in car.blocks}, 'commit block'
                assert not msg.rebase and not msg.too_big, 'rebase/tooBig false'
                for op in msg.ops:
                    assert op.action in ('create', 'update', 'delete'), op.action
                    if op.action == 'create':
                        record = car.blocks.get(op.cid)
                        assert isinstance(record, dict) and '$type' in record, f'record of {op.path}'
                        records[0] += 1
            elif isinstance(msg, models.ComAtprotoSyncSubscribeRepos.Sync):
                car = CAR.from_bytes(msg.blocks)
                assert len(car.blocks) == 1, '#sync CAR holds only the commit'
            elif isinstance(msg, models.ComAtprotoSyncSubscribeRepos.Account):
                assert isinstance(msg.active, bool)
            elif isinstance(msg, models.ComAtprotoSyncSubscribeRepos.Identity):
                assert msg.did.startswith('did:')
            else:
                raise AssertionError(f'unexpected message type {kind}')
        except Exception as e:  # noqa: BLE001 - report every failure, keep reading
            errors.append(f'{type(e).__name__}: {e}')

    thread = threading.Thread(target=client.start, args=(on_message,), daemon=True)
    thread.start()
    started = time.monotonic()
    while time.monotonic() - last_message[0] < IDLE_SECONDS and time.monotonic() - started < MAX_SECONDS:
        time.sleep(0.1)
    client.stop()
    thread.join(timeout=5)

    print(f'python atproto {importlib.metadata.version("atproto")}: '
          f'{len(seen)} frames decoded {counts}, {records[0]} created records decoded')
    ok = True
    if errors:
        ok = False
        for e in errors[:20]:
            print(f'  decode error: {e}', file=sys.stderr)
    if not seen:
        ok = False
        print('  no frames received', file=sys.stderr)
    if any(b <= a for a, b in zip(seen, seen[1:])):
        ok = False
        print(f'  seq not strictly increasing: {seen}', file=sys.stderr)
    for kind in ('Commit', 'Identity', 'Account', 'Sync'):
        if not counts.get(kind):
            ok = False
            print(f'  no {kind} message seen', file=sys.stderr)
    print('python firehose check: ' + ('ok' if ok else 'FAILED'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
