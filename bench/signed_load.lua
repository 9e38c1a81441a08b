-- wrk script for bench/inbound.py: every request a distinct GitHub-style body, signed with
-- HMAC-SHA256 (X-Hub-Signature-256 for Hookhub, the same value in X-Signature for adnanh/webhook),
-- with its own X-GitHub-Delivery id, so no answer comes from dedupe. It counts the answers by
-- status and keeps the event id of every 200 that names one; done() writes them to a file.
--
--   LOAD_SECRET=… LOAD_NONCE=… LOAD_OUT=file wrk -s signed_load.lua URL
--
-- (done() runs in wrk's main Lua state, which never sees init()'s arguments: hence the environment.)
--
-- SHA-256 in LuaJIT's bit operations (sums stay exact in doubles, bit.tobit wraps them to 32 bits);
-- the HMAC's inner and outer key blocks are compressed once, so a request costs ~5 compressions.

local bit = require("bit")
local band, bxor, bnot, rshift, ror, tobit, tohex = bit.band, bit.bxor, bit.bnot, bit.rshift, bit.ror, bit.tobit, bit.tohex
local byte, char, rep, format = string.byte, string.char, string.rep, string.format

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local IV = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
local w = {}

local function compress(H, s, offset)        -- one 64-byte block of s, starting at offset (1-based)
  for i = 1, 16 do
    local a, b, c, d = byte(s, offset, offset + 3)
    w[i] = tobit(a * 16777216 + b * 65536 + c * 256 + d)
    offset = offset + 4
  end
  for i = 17, 64 do
    local x, y = w[i - 15], w[i - 2]
    w[i] = tobit(w[i - 16] + bxor(ror(x, 7), ror(x, 18), rshift(x, 3)) + w[i - 7]
                 + bxor(ror(y, 17), ror(y, 19), rshift(y, 10)))
  end
  local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
  for i = 1, 64 do
    local t1 = tobit(h + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) + bxor(band(e, f), band(bnot(e), g)) + K[i] + w[i])
    local t2 = tobit(bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bxor(band(a, b), band(a, c), band(b, c)))
    h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
  end
  H[1], H[2], H[3], H[4] = tobit(H[1] + a), tobit(H[2] + b), tobit(H[3] + c), tobit(H[4] + d)
  H[5], H[6], H[7], H[8] = tobit(H[5] + e), tobit(H[6] + f), tobit(H[7] + g), tobit(H[8] + h)
end

local function finish(state, message, prefix_length)   -- SHA-256 of (a 64-byte prefix already in state) .. message
  local H = { state[1], state[2], state[3], state[4], state[5], state[6], state[7], state[8] }
  local bits = (prefix_length + #message) * 8
  local padded = message .. "\128" .. rep("\0", (55 - (prefix_length + #message)) % 64)
  padded = padded .. char(0, 0, 0, 0, band(rshift(bits, 24), 255), band(rshift(bits, 16), 255),
                          band(rshift(bits, 8), 255), band(bits, 255))
  for offset = 1, #padded, 64 do
    compress(H, padded, offset)
  end
  return H
end

local function words_to_bytes(H)
  local out = {}
  for i = 1, 8 do
    local x = H[i]
    out[i] = char(band(rshift(x, 24), 255), band(rshift(x, 16), 255), band(rshift(x, 8), 255), band(x, 255))
  end
  return table.concat(out)
end

local function hmac_states(key)              -- the HMAC's inner and outer states after their key blocks
  key = key .. rep("\0", 64 - #key)
  local inner, outer = {}, {}
  for i = 1, 64 do
    inner[i] = char(bxor(byte(key, i), 0x36))
    outer[i] = char(bxor(byte(key, i), 0x5c))
  end
  local istate = { unpack(IV) }
  local ostate = { unpack(IV) }
  compress(istate, table.concat(inner), 1)
  compress(ostate, table.concat(outer), 1)
  return istate, ostate
end

function hmac_sha256_hex(istate, ostate, message)
  local H = finish(ostate, words_to_bytes(finish(istate, message, 64)), 64)
  local out = {}
  for i = 1, 8 do out[i] = tohex(H[i], 8) end
  return table.concat(out)
end

-- ------------------------------------------------------------------------------- wrk hooks

local threads = {}
local istate, ostate
local nonce, outfile = os.getenv("LOAD_NONCE"), os.getenv("LOAD_OUT")
local counter = 0
counts, ids = {}, {}                         -- globals: done() reads them with thread:get

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(_args)
  istate, ostate = hmac_states(os.getenv("LOAD_SECRET"))
end

function request()
  counter = counter + 1
  local delivery = format("%s-%d-%d", nonce, tid, counter)
  local body = format('{"action":"opened","number":%d,"delivery":"%s","repository":{"full_name":"acme/widgets"},'
                      .. '"sender":{"login":"octocat"},"text":"Pull request opened"}', counter, delivery)
  local signature = "sha256=" .. hmac_sha256_hex(istate, ostate, body)
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json", ["X-GitHub-Event"] = "pull_request",
    ["X-GitHub-Delivery"] = delivery, ["X-Hub-Signature-256"] = signature, ["X-Signature"] = signature,
  }, body)
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if status == 200 then
    local id = body:match('"id":"(evt_[^"]+)"')
    if id then ids[#ids + 1] = id end
  end
end

function done(summary, latency, requests)
  local out = io.open(outfile, "w")
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do out:write(format("status %d %d\n", status, n)) end
    for _, id in ipairs(thread:get("ids")) do out:write("id ", id, "\n") end
  end
  out:close()
end
