-- wrk script: rotates Looker's calls on the all-in-one hub — the list, the form and the cell
-- execute of mark_suspicious (weights 9 : 9 : 2) — and counts answers that are not success.
local token = os.getenv("LOAD_TOKEN") or "load-secret"
local requests = {}
local failed = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local headers = {
    ["Authorization"] = 'Token token="' .. token .. '"',
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "LookerOutgoingWebhook/25.4.12",
    ["X-Looker-Instance"] = "load-test",
  }
  local list = wrk.format("POST", "/", headers, "{}")
  local form = wrk.format("POST", "/actions/mark_suspicious/form", headers,
    '{"type":"cell","data":{"value":"ORD-1001"},"form_params":{}}')
  local execute = wrk.format("POST", "/actions/mark_suspicious/execute", headers,
    '{"type":"cell","data":{"value":"ORD-1001","user_email":"load@example.com"},' ..
    '"form_params":{"id":"ORD-1001","classification":"Suspicious","comment":"load test"}}')
  for _ = 1, 9 do table.insert(requests, list) end
  for _ = 1, 9 do table.insert(requests, form) end
  for _ = 1, 2 do table.insert(requests, execute) end
end

local n = 0
function request()
  n = n + 1
  return requests[(n % #requests) + 1]
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"success":false', 1, true) or string.find(body, '"error"', 1, true) then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("failed") or 0) end
  io.write(string.format("answers not successful: %d\n", bad))
end
