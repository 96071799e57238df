-- wrk script: signed `queued` workflow_job webhooks, each with a unique job id, a unique
-- X-GitHub-Delivery and its own HMAC-SHA256 over the whole body (X-Hub-Signature-256).
--
-- wrk's Lua (LuaJIT) has no HMAC, so SHA-256 is written out below with LuaJIT's `bit`
-- library. The body is garm-bench's template (keys sorted, so `workflow_job` and the job id
-- come in its last few hundred bytes): the SHA-256 state after the template's constant
-- 64-byte blocks before the first job id is computed once per thread, and each request hashes
-- the rest of its own body from there. The signature still covers every byte of every body;
-- only the work for the identical prefix is shared (garm cannot do the same: it verifies
-- each body from its first byte).
--
-- Environment (garm-bench sets it when GARM_BENCH_INTAKE_WRK=1, see docs/benchmarks.md):
--   GARM_WRK_BODY      file with the payload template; the job id placeholder is 4242424242424242
--   GARM_WRK_SECRET    the repository's webhook secret
--   GARM_WRK_FIRST_ID  first job id of the range reserved for this run
local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rshift, lshift, ror, tobit, tohex = bit.rshift, bit.lshift, bit.ror, bit.tobit, bit.tohex
local byte, char, rep, sub = string.byte, string.char, string.rep, string.sub

local PLACEHOLDER = "4242424242424242"

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
for i = 1, 64 do K[i] = tobit(K[i]) end
local IV = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
for i = 1, 8 do IV[i] = tobit(IV[i]) end

local W = {}

-- Absorbs the 64-byte blocks of `s` from byte `first` (1-based) to `last` into state `H`.
local function blocks(H, s, first, last)
  for off = first, last, 64 do
    for j = 0, 15 do
      local a, b, c, d = byte(s, off + 4 * j, off + 4 * j + 3)
      W[j] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
    end
    for j = 16, 63 do
      local w15, w2 = W[j - 15], W[j - 2]
      local s0 = bxor(ror(w15, 7), ror(w15, 18), rshift(w15, 3))
      local s1 = bxor(ror(w2, 17), ror(w2, 19), rshift(w2, 10))
      W[j] = tobit(W[j - 16] + s0 + W[j - 7] + s1)
    end
    local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
    for j = 0, 63 do
      local S1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = tobit(h + S1 + ch + K[j + 1] + W[j])
      local S0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      local maj = bxor(band(a, b), band(a, c), band(b, c))
      h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + S0 + maj)
    end
    H[1], H[2], H[3], H[4] = tobit(H[1] + a), tobit(H[2] + b), tobit(H[3] + c), tobit(H[4] + d)
    H[5], H[6], H[7], H[8] = tobit(H[5] + e), tobit(H[6] + f), tobit(H[7] + g), tobit(H[8] + h)
  end
end

local function copy(H)
  return { H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8] }
end

local function be32(x)
  return char(band(rshift(x, 24), 255), band(rshift(x, 16), 255), band(rshift(x, 8), 255), band(x, 255))
end

-- Finishes a hash whose state `H` has absorbed `done` bytes, with the remaining bytes `tail`.
local function finish(H, done, tail)
  local total = done + #tail
  local bits = total * 8
  local padded = tail .. "\128" .. rep("\0", (55 - total) % 64)
    .. be32(math.floor(bits / 4294967296)) .. be32(bits % 4294967296)
  blocks(H, padded, 1, #padded)
  return H
end

local function digest_bytes(H)
  local out = {}
  for i = 1, 8 do out[i] = be32(H[i]) end
  return table.concat(out)
end

-- HMAC-SHA256 key schedule: the states after the inner and the outer padded key.
local function hmac_key(key)
  if #key > 64 then key = digest_bytes(finish(copy(IV), 0, key)) end
  key = key .. rep("\0", 64 - #key)
  local ipad, opad = {}, {}
  for i = 1, 64 do
    local k = byte(key, i)
    ipad[i] = char(bxor(k, 0x36))
    opad[i] = char(bxor(k, 0x5c))
  end
  local inner, outer = copy(IV), copy(IV)
  blocks(inner, table.concat(ipad), 1, 64)
  blocks(outer, table.concat(opad), 1, 64)
  return inner, outer
end

local threads_set_up = 0
function setup(thread)
  thread:set("wrk_thread", threads_set_up)
  threads_set_up = threads_set_up + 1
end

local template, prefix_len, inner_mid, outer_key, next_id, counter, me

function init(args)
  local path = assert(os.getenv("GARM_WRK_BODY"), "GARM_WRK_BODY is not set")
  local file = assert(io.open(path, "rb"))
  template = file:read("*a")
  file:close()
  local secret = assert(os.getenv("GARM_WRK_SECRET"), "GARM_WRK_SECRET is not set")
  local first = assert(tonumber(os.getenv("GARM_WRK_FIRST_ID")), "GARM_WRK_FIRST_ID is not set")
  local at = assert(template:find(PLACEHOLDER, 1, true), "no job id placeholder in the template")
  -- Whole 64-byte blocks before the first placeholder never change.
  prefix_len = math.floor((at - 1) / 64) * 64
  local inner, outer = hmac_key(secret)
  blocks(inner, template, 1, prefix_len)
  inner_mid, outer_key = inner, outer
  -- Threads take disjoint id ranges of a billion each.
  me = tonumber(rawget(_G, "wrk_thread")) or 0
  next_id = first + me * 1000000000
  counter = 0
end

function request()
  local id = string.format("%d", next_id + counter)
  counter = counter + 1
  local tail = sub(template, prefix_len + 1):gsub(PLACEHOLDER, id)
  local body = sub(template, 1, prefix_len) .. tail
  local inner = finish(copy(inner_mid), 64 + prefix_len, tail)
  local mac = finish(copy(outer_key), 64, digest_bytes(inner))
  local hex = {}
  for i = 1, 8 do hex[i] = tohex(mac[i], 8) end
  local headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "GitHub-Hookshot/garm-bench-wrk",
    ["X-GitHub-Event"] = "workflow_job",
    ["X-GitHub-Delivery"] = string.format("wrk-%d-%d", me, counter),
    ["X-GitHub-Hook-Installation-Target-Type"] = "repository",
    ["X-Hub-Signature-256"] = "sha256=" .. table.concat(hex),
  }
  return wrk.format("POST", nil, headers, body)
end
