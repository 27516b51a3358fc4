-- The prepared user's access token as a bearer token (run.sh exports ACCESS_TOKEN).
local token = os.getenv("ACCESS_TOKEN")
assert(token and token ~= "", "ACCESS_TOKEN is not set: run.sh prepares it for variants that use it")
wrk.headers["Authorization"] = "Bearer " .. token
