-- A POST with a 1 KiB body, for the variants that verify a body (and their baseline).
wrk.method = "POST"
wrk.body = string.rep("x", 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
