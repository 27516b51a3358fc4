-- POSTs of a 1 KiB body signed with identity-pool credentials (AWS Signature Version 4), each to its own
-- path (/items/1, /items/2, ...): run.sh signs them with presign into the file SIGNED_REQUESTS names,
-- one per line (path, then tab-separated signed headers as name=value), shortly before each measurement.
local requests = {}

-- init runs in each thread once wrk has set wrk.headers (the Host the requests were signed for).
init = function(args)
	local file = os.getenv("SIGNED_REQUESTS")
	assert(file and file ~= "", "SIGNED_REQUESTS is not set: run.sh prepares it for the SigV4 variants")
	local body = string.rep("x", 1024)
	for line in io.lines(file) do
		local fields = {}
		for field in string.gmatch(line, "[^\t]+") do
			fields[#fields + 1] = field
		end
		local headers = {}
		for name, value in pairs(wrk.headers) do
			headers[name] = value
		end
		for i = 2, #fields do
			local name, value = string.match(fields[i], "^([^=]+)=(.*)$")
			headers[name] = value
		end
		requests[#requests + 1] = wrk.format("POST", fields[1], headers, body)
	end
	assert(#requests > 0, "no signed request in " .. file)
end

local n = 0
request = function()
	n = n % #requests + 1
	return requests[n]
end
