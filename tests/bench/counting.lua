-- SPDX-License-Identifier: Apache-2.0
-- wrk script of tests/bench/bench.py: counts responses that are not 200, or whose body
-- length or Docker-Content-Digest differ from the expected ones (BENCH_METHOD,
-- BENCH_ACCEPT, BENCH_LENGTH, BENCH_DIGEST from the environment; empty: not checked),
-- and prints "bench-result <responses> <bad> <first bad status>" at the end.
local threads = {}
local method = os.getenv("BENCH_METHOD") or "GET"
local accept = os.getenv("BENCH_ACCEPT") or ""
local want_len = tonumber(os.getenv("BENCH_LENGTH") or "")
local want_digest = os.getenv("BENCH_DIGEST") or ""

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	responses = 0
	bad = 0
	first_bad = ""
	wrk.method = method
	if accept ~= "" then
		wrk.headers["Accept"] = accept
	end
end

function response(status, headers, body)
	responses = responses + 1
	local ok = status == 200
	if ok and want_len ~= nil and #body ~= want_len then
		ok = false
	end
	if ok and want_digest ~= "" then
		local d = headers["Docker-Content-Digest"] or headers["docker-content-digest"]
		if d ~= want_digest then
			ok = false
		end
	end
	if not ok then
		bad = bad + 1
		if first_bad == "" then
			first_bad = tostring(status) .. ":len=" .. tostring(#body)
		end
	end
end

function done(summary, latency, requests)
	local n, b, f = 0, 0, ""
	for _, t in ipairs(threads) do
		n = n + t:get("responses")
		b = b + t:get("bad")
		local fb = t:get("first_bad")
		if f == "" and fb ~= nil then
			f = fb
		end
	end
	if f == "" then
		f = "-"
	end
	io.write(string.format("bench-result %d %d %s\n", n, b, f))
end
