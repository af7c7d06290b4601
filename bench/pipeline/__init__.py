"""bench/pipeline_bench.py's parts. Each module imports only those listed before it: run (a phase's
record), cpu, hops (the Kafka reader), load (the generator and a phase), contenders (closed loop),
floor, peer (django-helpdesk), report, compare (intake against the floor), stack (start-up), whole
(the pipeline's run). bench/ is on sys.path, as for every bench script, so vegeta and consumer_bench
are imported by name."""
