"""`meshlb bench`: an HTTP/1.1 and HTTP/2 load generator.

Closed model (a fixed number of connections, each sending its next request when the previous
response arrives, as wrk does) or open model (`--rate`: a constant request rate with latency
measured from each request's intended send time, as wrk2 does). The main CLI wires it through
`meshlb.bench.cli.add_arguments` and `meshlb.bench.cli.run`.
"""
