-- wrk script for the omnicx intake benchmark.
--
-- Usage: wrk ... -s bench/post.lua URL -- TEMPLATES RUN_ID PATH [AUTHORIZATION]
--
-- TEMPLATES is a file of request bodies, one per line, in which every messageId is the
-- placeholder @@MID@@. Each request takes the next body and replaces every placeholder with
-- RUN_ID-<thread>-<request>-<n>, so every message of the run has its own messageId (nothing
-- is a duplicate the server could skip). The bodies are split once in init(); a request only
-- concatenates the pieces. done() prints one line "WRK_JSON {...}" for the caller to parse.

local marker = "@@MID@@"
local next_thread = 1

function setup(thread)
  thread:set("thread_number", next_thread)
  next_thread = next_thread + 1
end

local templates = {}
local prefix = ""
local counter = 0
local position = 0

local function split(body)
  local parts = {}
  local start = 1
  while true do
    local first, last = string.find(body, marker, start, true)
    if not first then
      parts[#parts + 1] = string.sub(body, start)
      return parts
    end
    parts[#parts + 1] = string.sub(body, start, first - 1)
    start = last + 1
  end
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  for line in file:lines() do
    if #line > 0 then
      templates[#templates + 1] = split(line)
    end
  end
  file:close()
  prefix = args[2] .. "-" .. thread_number .. "-"
  wrk.method = "POST"
  wrk.path = args[3]
  wrk.headers["Content-Type"] = "application/json"
  if args[4] and #args[4] > 0 then
    wrk.headers["Authorization"] = args[4]
  end
end

function request()
  counter = counter + 1
  position = position % #templates + 1
  local parts = templates[position]
  local base = prefix .. counter .. "-"
  local pieces = { parts[1] }
  for n = 2, #parts do
    pieces[#pieces + 1] = base .. (n - 1)
    pieces[#pieces + 1] = parts[n]
  end
  return wrk.format(nil, nil, nil, table.concat(pieces))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
