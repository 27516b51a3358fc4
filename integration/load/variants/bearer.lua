-- The prepared user's access token as a bearer token (run.sh exports ACCESS_TOKEN), on a different path
-- for every request (/items/1, /items/2, ...), so that nothing decided for one path serves another.
local token = os.getenv("ACCESS_TOKEN")
assert(token and token ~= "", "ACCESS_TOKEN is not set: run.sh prepares it for variants that use it")
wrk.headers["Authorization"] = "Bearer " .. token
local n = 0
request = function()
	n = n + 1
	return wrk.format(nil, "/items/" .. n)
end
