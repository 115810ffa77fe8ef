# Random KV request sequences (puts, range deletes, ranges with every option, nested txns,
# compactions) sent to real etcd 3.4 and to etcdpp; every response and error must be identical
# (server ids and raft term aside). Requests go through python3-etcd3's generated stubs on
# grpc C-core. Run by test_random_rpc_diff.py; by hand: random_rpc_diff.py SEED N PORT1 PORT2
# against two running servers. Prints the first difference and exits 1.
import random, sys, grpc, etcd3
import etcd3.etcdrpc as r
from google.protobuf import text_format

def stub(port):
    ch = grpc.insecure_channel(f'127.0.0.1:{port}')
    return r.KVStub(ch)

KEYS = [b'a', b'b', b'ba', b'bb', b'c', b'd', b'e']
def key(rng): return rng.choice(KEYS)
def end(rng):
    x = rng.random()
    if x < 0.4: return b''
    if x < 0.55: return b'\0'
    return rng.choice(KEYS + [b'z', b'bc'])

def rand_range(rng, cur):
    q = r.RangeRequest(key=key(rng), range_end=end(rng))
    if rng.random() < 0.3: q.limit = rng.choice([0, 1, 2, 3, -1])
    if rng.random() < 0.3: q.revision = rng.randint(-1, cur + 1)
    if rng.random() < 0.3:
        q.sort_order = rng.choice([0, 1, 2]); q.sort_target = rng.choice([0, 1, 2, 3, 4])
    if rng.random() < 0.15: q.keys_only = True
    if rng.random() < 0.1: q.count_only = True
    if rng.random() < 0.15: q.min_mod_revision = rng.randint(0, cur)
    if rng.random() < 0.15: q.max_mod_revision = rng.randint(0, cur)
    if rng.random() < 0.15: q.min_create_revision = rng.randint(0, cur)
    if rng.random() < 0.15: q.max_create_revision = rng.randint(0, cur)
    return q

def rand_put(rng):
    p = r.PutRequest(key=key(rng), value=rng.choice([b'', b'1', b'2', b'x']))
    if rng.random() < 0.3: p.prev_kv = True
    if rng.random() < 0.1: p.ignore_value = True; p.value = b''
    return p

def rand_del(rng):
    d = r.DeleteRangeRequest(key=key(rng), range_end=end(rng))
    if rng.random() < 0.4: d.prev_kv = True
    return d

def rand_cmp(rng, cur):
    c = r.Compare(key=key(rng), result=rng.choice([0, 1, 2, 3]), target=rng.choice([0, 1, 2, 3]))
    if rng.random() < 0.2: c.range_end = end(rng)
    t = c.target
    if t == 0: c.version = rng.randint(0, 3)
    elif t == 1: c.create_revision = rng.randint(0, cur)
    elif t == 2: c.mod_revision = rng.randint(0, cur)
    else: c.value = rng.choice([b'', b'1', b'2', b'x'])
    return c

def rand_op(rng, cur, depth=0):
    x = rng.random()
    if x < 0.35: return r.RequestOp(request_range=rand_range(rng, cur))
    if x < 0.7: return r.RequestOp(request_put=rand_put(rng))
    if x < 0.9 or depth > 0: return r.RequestOp(request_delete_range=rand_del(rng))
    return r.RequestOp(request_txn=rand_txn(rng, cur, depth + 1))

def rand_txn(rng, cur, depth=0):
    t = r.TxnRequest()
    for _ in range(rng.randint(0, 2)): t.compare.append(rand_cmp(rng, cur))
    for _ in range(rng.randint(0, 3)): t.success.append(rand_op(rng, cur, depth))
    for _ in range(rng.randint(0, 2)): t.failure.append(rand_op(rng, cur, depth))
    return t

def strip(msg):
    # Clear server identity fields everywhere they appear (only top-level headers carry them).
    if msg.HasField('header'):
        msg.header.cluster_id = 0; msg.header.member_id = 0; msg.header.raft_term = 0
    return text_format.MessageToString(msg, as_one_line=True)

def call(s, kind, req):
    try:
        return 'ok ' + strip(getattr(s, kind)(req, timeout=10))
    except grpc.RpcError as e:
        return f'err {e.code()} {e.details()}'

def main(seed, n, p1, p2):
    rng = random.Random(seed)
    a, b = stub(p1), stub(p2)
    cur = 1
    stats = {}
    for i in range(n):
        x = rng.random()
        if x < 0.3: kind, req = 'Put', rand_put(rng)
        elif x < 0.45: kind, req = 'DeleteRange', rand_del(rng)
        elif x < 0.7: kind, req = 'Range', rand_range(rng, cur)
        elif x < 0.97: kind, req = 'Txn', rand_txn(rng, cur)
        else: kind, req = 'Compact', r.CompactionRequest(revision=rng.randint(0, cur))
        ra, rb = call(a, kind, req), call(b, kind, req)
        tag = kind + ':' + (ra.split(' ')[0] if ra.startswith('ok') else ra[:60])
        stats[tag] = stats.get(tag, 0) + 1
        if ra != rb:
            print(f'seed {seed} op {i} {kind}: {text_format.MessageToString(req, as_one_line=True)}')
            print('  etcd   :', ra[:600]); print('  etcdpp :', rb[:600])
            return 1
        hdr = ra.find('revision: ')
        if hdr >= 0:
            try: cur = max(cur, int(ra[hdr + 10:].split()[0]))
            except ValueError: pass
    for k in sorted(stats): print(f'{stats[k]:5d} {k}', file=sys.stderr)
    print(f'final revision {cur}', file=sys.stderr)
    return 0

if __name__ == '__main__':
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
