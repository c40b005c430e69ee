-- wrk script: Africa's Talking-style USSD help flows, one session after another.
--
-- Run with as many threads as connections (-tN -cN): each thread then owns one connection, so
-- the next hop of a session is only sent after the previous answer arrived, as on a phone.
-- Arguments after `--` are key=value pairs:
--   mode=ussd   walk the help flow by reading each screen (checks every answer)
--   mode=bare   send the same eight forms blindly (for the bare endpoint)
--   mode=fill   open sessions (first screen and language) and leave them live
--   key=USSD_KEY  base=900010000  phones=10000  offset=0  threads=N  run=TAG
--   quota=N     (fill) sessions per thread, after which the thread stops
--   out=PATH    where done() writes counts and per-kind latency samples as JSON

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } hd_timespec;
int clock_gettime(int clk_id, hd_timespec *tp);
]])
local clock = ffi.new("hd_timespec")

local function now_us()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end

-- The English help flow for the first district: what to press on each screen, found by a
-- phrase of its title (the language screen is the only one listing "English").
local SCREENS = {
  { "Please type", nil }, -- the hint line: the last input was not understood
  { "English", "4" },
  { "Continue where", "2" }, -- a dropped session of this phone: start again
  { "Ask for advice", "1" },
  { "What is it about", "2" },
  { "Your district", "1" },
  { "Who may be told", "1" },
  { "safe to call", "1" },
  { "neutral SMS", "1" }, -- "No SMS": this answer submits the request
}
local BLIND = { "", "4", "4*1", "4*1*2", "4*1*2*1", "4*1*2*1*1", "4*1*2*1*1*1", "4*1*2*1*1*1*1" }

-- ---- main state: one entry per thread, read back in done() -----------------------------------
local threads = {}
local created = 0

function setup(thread)
  thread:set("id", created)
  created = created + 1
  table.insert(threads, thread)
end

-- ---- thread state ----------------------------------------------------------------------------
local opts, path, headers
local n, session, phone, inputs, text, kind, started, step = 0, nil, nil, nil, nil, nil, 0, 0
counts = {
  flows = 0, cases = 0, busy = 0, bad_status = 0, bad_answer = 0, error_end = 0, filled = 0,
}
bad_body = "" -- the last answer that was not the expected screen, for the report
-- Globals, so done() can read them per thread (thread:get copies flat tables only).
lat_first, lat_menu, lat_submit = {}, {}, {}

function init(args)
  opts = {
    mode = "ussd", key = "", base = "900010000", phones = "10000", offset = "0",
    threads = "1", run = "r", quota = "0", out = "",
  }
  for _, arg in ipairs(args) do
    local k, v = arg:match("^([%w_]+)=(.*)$")
    if k then opts[k] = v end
  end
  path = "/ussd/africastalking?key=" .. opts.key
  headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  out = opts.out
end

local function escape(s)
  return (s:gsub("[^%w%-_.]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local function new_flow()
  local count, total = tonumber(opts.phones), tonumber(opts.threads)
  local index = (tonumber(opts.offset) + id + n * total) % count
  n = n + 1
  counts.flows = counts.flows + 1
  session = "ATUid_" .. opts.run .. "-" .. id .. "-" .. n
  phone = "+992" .. string.format("%09d", tonumber(opts.base) + index)
  inputs, text, kind, step = {}, "", "first", 1
end

function request()
  if session == nil then new_flow() end
  if opts.mode == "bare" then text = BLIND[step] end
  local body = "sessionId=" .. session .. "&serviceCode=" .. escape("*384#")
    .. "&phoneNumber=" .. escape(phone) .. "&networkCode=43612&text=" .. escape(text)
  started = now_us()
  return wrk.format("POST", path, headers, body)
end

local function finish()
  session = nil
  if opts.mode == "fill" and counts.filled >= tonumber(opts.quota) then
    io.stdout:write("filled " .. id .. "\n")
    io.stdout:flush()
    wrk.thread:stop()
  end
end

local function press(key)
  table.insert(inputs, key)
  text = table.concat(inputs, "*")
  step = step + 1
end

local function odd(what, body)
  counts[what] = counts[what] + 1
  bad_body = body:sub(1, 160):gsub('[%c"\\]', " ")
end

function response(status, headers, body)
  local took = now_us() - started
  local samples = (kind == "first" and lat_first) or (kind == "submit" and lat_submit) or lat_menu
  samples[#samples + 1] = math.floor(took)
  if status ~= 200 then
    odd("bad_status", status .. " " .. body)
    return finish()
  end
  if opts.mode == "bare" then
    step = step + 1
    kind = (step == #BLIND) and "submit" or "menu"
    if step > #BLIND then finish() end
    return
  end
  if body:sub(1, 4) == "END " then
    if kind ~= "submit" then
      -- the neutral error screen, or an end where the flow expects a question
      odd(body:find("Ошибка", 1, true) and "error_end" or "bad_answer", body)
    elseif body:find("Your code: %d%d%d%d") then
      counts.cases = counts.cases + 1
    elseif body:find("try again later", 1, true) then
      counts.busy = counts.busy + 1 -- her five requests an hour are used up
    elseif body:find("Ошибка", 1, true) then
      odd("error_end", body)
    else
      odd("bad_answer", body)
    end
    return finish()
  end
  if body:sub(1, 4) ~= "CON " then
    odd("bad_answer", body)
    return finish()
  end
  for _, screen in ipairs(SCREENS) do
    if body:find(screen[1], 1, true) then
      if screen[2] == nil then break end
      if opts.mode == "fill" and kind ~= "first" then
        counts.filled = counts.filled + 1 -- language chosen: a live session mid-flow
        return finish()
      end
      kind = (screen[1] == "neutral SMS") and "submit" or "menu"
      return press(screen[2])
    end
  end
  odd("bad_answer", body)
  return finish()
end

-- ---- main state again: gather every thread's figures -----------------------------------------
local function json_list(values)
  return "[" .. table.concat(values, ",") .. "]"
end

function done(summary, latency, requests)
  local totals, samples, path_out = {}, { first = {}, menu = {}, submit = {} }, nil
  local odd_bodies = {}
  for _, thread in ipairs(threads) do
    local last = thread:get("bad_body")
    if last and last ~= "" and #odd_bodies < 5 then
      odd_bodies[#odd_bodies + 1] = '"' .. last .. '"'
    end
    path_out = path_out or thread:get("out")
    for k, v in pairs(thread:get("counts")) do totals[k] = (totals[k] or 0) + v end
    for _, k in ipairs({ "first", "menu", "submit" }) do
      for _, v in ipairs(thread:get("lat_" .. k)) do samples[k][#samples[k] + 1] = v end
    end
  end
  local fields = {}
  for k, v in pairs(totals) do fields[#fields + 1] = string.format('"%s":%d', k, v) end
  local e = summary.errors
  local doc = string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"status_errors":%d,'
      .. '"counts":{%s},"odd_answers":[%s],"latency_us":{"first":%s,"menu":%s,"submit":%s}}',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.timeout, e.status, table.concat(fields, ","),
    table.concat(odd_bodies, ","),
    json_list(samples.first), json_list(samples.menu), json_list(samples.submit)
  )
  if path_out and path_out ~= "" then
    local f = assert(io.open(path_out, "w"))
    f:write(doc)
    f:close()
  end
end
