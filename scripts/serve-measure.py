#!/usr/bin/env python3
import json, subprocess, time, threading, urllib.request, random, statistics, sys, os, signal, shutil
# Measures smf serve on a real checkpoint (python3 standard library only):
#   scripts/serve-measure.py SMF MODEL TOKEN_FILE latency      30 learns with 3 concurrent askers: p50/p95 latencies
#   scripts/serve-measure.py SMF MODEL TOKEN_FILE kill N       N cycles of: start, 2 learns, kill -9 during a 3rd, restart,
#                                                              check every acknowledged learn is present exactly once
import gzip, os
SMF, MODEL, TOKFILE = sys.argv[1], sys.argv[2], sys.argv[3]; TOK=open(TOKFILE).read().strip()
sys.argv = [sys.argv[0]] + sys.argv[4:]
PORT=5077; U=f"http://127.0.0.1:{PORT}"
def req(path, body=None, auth=False, timeout=60):
    data=None if body is None else json.dumps(body).encode()
    r=urllib.request.Request(U+path, data=data, method="POST" if body is not None or path.startswith("/undo") else "GET")
    r.add_header("Content-Type","application/json")
    if auth: r.add_header("Authorization","Bearer "+TOK)
    with urllib.request.urlopen(r, timeout=timeout) as f: return json.loads(f.read())
def start(state):
    p=subprocess.Popen([SMF,"serve","--model",MODEL,"--urls",U,"--token-file",TOKFILE,"--state",state,"--learns-per-minute","0"],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
    t0=time.time()
    while True:
        try: req("/health"); return p, time.time()-t0
        except Exception: time.sleep(0.2)
        if time.time()-t0>120: raise SystemExit("no health")
root=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
facts=[{"s":" ".join(f["statements"][:2]),"q":f["question"],"a":f["object"]} for f in map(json.loads, gzip.open(os.path.join(root,"data","facts","new.jsonl.gz"),"rt"))][:200]
mode=sys.argv[1]
if mode=="latency":
    state=os.path.join(os.environ.get("TMPDIR","/tmp"),"smf-serve-latency"); shutil.rmtree(state, ignore_errors=True)
    p,boot=start(state); learn=[]; ask=[]; stop=False
    def asker():
        while not stop:
            t=time.time(); req("/ask",{"prompt":random.choice(facts)["q"],"max_tokens":8}); ask.append(time.time()-t)
    th=[threading.Thread(target=asker) for _ in range(3)]; [x.start() for x in th]
    for f in facts[:30]:
        t=time.time(); req("/learn",{"text":f["s"],"question":f["q"],"answer":f["a"]},auth=True); learn.append(time.time()-t)
    stop=True; [x.join() for x in th]
    q=lambda v,p: sorted(v)[int(p*(len(v)-1))]*1000
    print(json.dumps({"boot_s":round(boot,1),"learns":len(learn),"learn_p50_ms":round(q(learn,.5)),"learn_p95_ms":round(q(learn,.95)),"asks":len(ask),"ask_p50_ms":round(q(ask,.5)),"ask_p95_ms":round(q(ask,.95))}))
    p.send_signal(signal.SIGTERM); p.wait()
else:
    n=int(sys.argv[2]); state=os.path.join(os.environ.get("TMPDIR","/tmp"),"smf-serve-kill"); shutil.rmtree(state, ignore_errors=True)
    acked=[]; extra=0; i=0; rng=random.Random(7)
    for k in range(n):
        p,_=start(state)
        for _ in range(2):
            f=facts[i%len(facts)]; i+=1
            acked.append(req("/learn",{"text":f["s"],"question":f["q"],"answer":f["a"]},auth=True)["id"])
        f=facts[i%len(facts)]; i+=1
        def inflight():
            try: req("/learn",{"text":f["s"],"question":f["q"],"answer":f["a"]},auth=True)
            except Exception: pass
        th=threading.Thread(target=inflight); th.start()
        time.sleep(rng.uniform(0,0.4)); p.kill(); p.wait(); th.join()
        p,_=start(state)
        ids=[l["id"] for l in req("/learned")["learns"]]
        ok = len(ids)==len(set(ids)) and set(acked)<=set(ids) and len(ids)-len(acked) in (0,1)
        if len(ids)>len(acked): acked=[x for x in ids]   # the in-flight one landed: it counts from now on
        print(json.dumps({"kill":k+1,"acked":len(acked),"present":len(ids),"ok":ok}), flush=True)
        p.kill(); p.wait()
