#!/usr/bin/env python3
"""Writes the seed inputs of each fuzz target into a directory (default fuzz/seeds/out),
from the project's own test data: the RFC 4475 torture messages, the SIPp scenarios (their
keywords filled in), SDP bodies from those, RTP packets from SIPp's RFC 4733 pcaps when
sip-tester is installed plus synthetic ones, the shipped plan with small edits, and small
WAV files of each format the prompt loader reads.

The committed corpora (fuzz/corpus/<target>) are these seeds after fuzzing and
`cargo fuzz cmin`; rerun this only to start a corpus afresh (docs/reliability.md)."""
import glob, hashlib, os, re, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "fuzz", "seeds", "out")
SEP = b"\0\0"  # hotline_fuzz::SIP_SEPARATOR


def put(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


FILL = {
    "service": "1001", "remote_ip": "127.0.0.1", "remote_port": "5060", "transport": "UDP",
    "local_ip": "127.0.0.1", "local_port": "6000", "branch": "z9hG4bK-1-1", "pid": "77",
    "call_number": "1", "call_id": "1-77@127.0.0.1", "local_ip_type": "4", "media_ip_type": "4",
    "media_ip": "127.0.0.1", "media_port": "8000", "next_url": "sip:1001@127.0.0.1:5060",
    "routes": "", "peer_tag_param": ";tag=gw1", "cseq": "1", "last_Via:": "$VIA_HDR",
    "last_From:": "$FROM_HDR", "last_To:": "$TO_HDR", "last_Call-ID:": "$CALLID_HDR",
    "last_CSeq:": "$CSEQ_HDR", "last_Record-route:": "", "last_Record-Route:": "",
}
HDR = {"$VIA_HDR": "Via: $VIA", "$FROM_HDR": "From: $FROM", "$TO_HDR": "To: $TO;tag=s1",
       "$CALLID_HDR": "Call-ID: $CALLID", "$CSEQ_HDR": "CSeq: $CSEQ"}


def sipp_message(cdata):
    lines = [l.strip() for l in cdata.strip("\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    text = "\n".join(lines)

    def sub(m):
        k = m.group(1)
        k2 = re.sub(r"-\d+$", "", k)
        return FILL.get(k, FILL.get(k2, ""))

    text = re.sub(r"\[([^\]\s]+)\]", lambda m: m.group(0) if m.group(1) == "len" else sub(m), text)
    for k, v in HDR.items():
        text = text.replace(k, v)
    head, _, body = text.partition("\n\n")
    head = "\r\n".join(l for l in head.split("\n") if l)
    body = "\r\n".join(body.strip("\n").split("\n"))
    if body:
        body += "\r\n"
    head = head.replace("[len]", str(len(body.encode())))
    return (head + "\r\n\r\n" + body).encode()


sip = []
for path in sorted(glob.glob(os.path.join(ROOT, "sip-gateway/tests/data/rfc4475/*.dat"))):
    with open(path, "rb") as f:
        data = f.read()
    put("sip_validate", data)
    sip.append(data)
for path in sorted(glob.glob(os.path.join(ROOT, "crates/hotline/tests/scenarios/*.xml"))):
    with open(path, encoding="utf-8") as f:
        xml = f.read()
    msgs = [sipp_message(c) for c in re.findall(r"<!\[CDATA\[(.*?)\]\]>", xml, re.S)]
    for m in msgs:
        put("sip_validate", m.replace(b"$", b""))
        sip.append(m.replace(b"$", b""))
    # A caller's scenario as a whole too (the harness takes alternate parts as the seat's,
    # which mixes the roles: still a useful start for mutations).
    if os.path.basename(path).startswith("uac_") and msgs:
        put("sip_validate", SEP.join(msgs))

SDP = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 8000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
       b"a=ptime:20\r\na=sendrecv\r\n")


def invite(call_id, body=SDP, user="1001"):
    return (f"INVITE sip:{user}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK{call_id}\r\n"
            f"From: <sip:13800001234@carrier.example>;tag=c1\r\nTo: <sip:{user}@127.0.0.1>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:6000>\r\nMax-Forwards: 70\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


SEAT_SDP = b"v=0\r\no=seat 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"


def seat_response(status, reason, body=b""):
    ct = b"Content-Type: application/sdp\r\n" if body else b""
    return (f"SIP/2.0 {status} {reason}\r\nVia: $VIA\r\nFrom: $FROM\r\nTo: $TO;tag=s1\r\nCall-ID: $CALLID\r\nCSeq: $CSEQ\r\n"
            f"Contact: <sip:1001@127.0.0.1:7000>\r\n").encode() + ct + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def caller_req(method, cseq, body=b""):
    ct = b"Content-Type: application/sdp\r\n" if body else b""
    return (f"{method} sip:1001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK{method}{cseq}\r\n"
            f"From: <sip:13800001234@carrier.example>;tag=c1\r\nTo: $TO\r\nCall-ID: call-1\r\nCSeq: {cseq} {method}\r\n"
            f"Max-Forwards: 70\r\n").encode() + ct + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def seat_req(method, cseq, body=b""):
    ct = b"Content-Type: application/sdp\r\n" if body else b""
    return (f"{method} sip:gw@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:7000;branch=z9hG4bKs{method}{cseq}\r\n"
            f"From: $TO\r\nTo: $FROM\r\nCall-ID: $CALLID\r\nCSeq: {cseq} {method}\r\n"
            f"Max-Forwards: 70\r\n").encode() + ct + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


inv = invite("call-1")
cancel = inv.split(b"\r\n\r\n")[0].replace(b"INVITE sip", b"CANCEL sip").replace(b"1 INVITE", b"1 CANCEL")
cancel = re.sub(rb"Content-Type[^\r]*\r\n", b"", cancel).replace(b"Content-Length: " + str(len(SDP)).encode(), b"Content-Length: 0") + b"\r\n\r\n"
scenarios = [
    # answered, caller hangs up
    [inv, seat_response(180, "Ringing"), b"", seat_response(200, "OK", SEAT_SDP), caller_req("ACK", 1), b"", caller_req("BYE", 2)],
    # answered, seat re-INVITEs then hangs up
    [inv, seat_response(200, "OK", SEAT_SDP), caller_req("ACK", 1), seat_req("INVITE", 2, SEAT_SDP), b"", seat_req("BYE", 3)],
    # caller cancels while ringing
    [inv, seat_response(180, "Ringing"), cancel, seat_response(487, "Request Terminated")],
    # seat busy
    [inv, seat_response(486, "Busy Here")],
    # caller re-INVITE / UPDATE / INFO after answer
    [inv, seat_response(200, "OK", SEAT_SDP), caller_req("ACK", 1), b"", caller_req("UPDATE", 2, SDP), b"",
     caller_req("INFO", 3, b"Signal=5\r\nDuration=160\r\n").replace(b"Content-Type: application/sdp", b"Content-Type: application/dtmf-relay")],
    # seat REFERs the caller
    [inv, seat_response(200, "OK", SEAT_SDP), caller_req("ACK", 1),
     seat_req("REFER", 2).replace(b"Max-Forwards", b"Refer-To: <sip:12333@127.0.0.1>\r\nReferred-By: <sip:1001@127.0.0.1>\r\nMax-Forwards")],
    # unknown seat, OPTIONS, late offer
    [invite("call-2", user="9999")],
    [invite("call-3", body=b"").replace(b"Content-Type: application/sdp\r\n", b""), seat_response(200, "OK", SEAT_SDP), caller_req("ACK", 1, SDP).replace(b"call-1", b"call-3")],
]
for s in scenarios:
    put("sip_validate", SEP.join(s))

# framing: streams of several messages, keep-alives between, a split body.
clean = [m for m in sip if b"Content-Length" in m or b"l: " in m][:40]
for i in range(0, len(clean) - 2, 3):
    put("sip_framing", b"\r\n\r\n".join([b""] + clean[i:i + 3]))
put("sip_framing", b"\r\n" + inv + b"\r\n\r\n" + inv)
put("sip_framing", inv + inv[: len(inv) // 2])
put("sip_framing", inv.replace(b"Content-Length: ", b"Content-Length: 9"))
put("sip_framing", b"\r\n\r\n\r")

# SDP bodies: from every SIP seed with one, plus edge cases.
bodies = {SDP, SEAT_SDP}
for m in sip:
    head, sep, body = m.partition(b"\r\n\r\n")
    if sep and body.startswith(b"v=0"):
        bodies.add(body)
bodies |= {
    b"v=0\no=- 2 2 IN IP6 ::1\ns=-\nc=IN IP6 ::1\nt=0 0\nm=audio 4000 RTP/AVP 96 97\na=rtpmap:96 PCMA/8000/1\na=rtpmap:97 telephone-event/8000\na=ptime:30\na=sendonly\n",
    b"v=0\r\no=- 3 3 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 5000 RTP/AVP 31\r\nc=IN IP4 10.0.0.2\r\nm=audio 6000 RTP/SAVP 0\r\nm=audio 0 RTP/AVP 8\r\nm=audio 7000 RTP/AVP 8\r\nc=IN IP4 0.0.0.0\r\na=inactive\r\na=rtcp:7001\r\na=candidate:1 1 UDP 1 10.0.0.2 7000 typ host\r\na=ice-ufrag:x\r\n",
    b"v=0\r\no=- 4 4 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1/127\r\nt=0 0\r\nm=audio 8000/2 RTP/AVP 0\r\na=recvonly\r\na=fmtp:0 x\r\n",
}
for b in bodies:
    put("sdp_parse", b)


# RTP: payloads of SIPp's RFC 4733 pcaps, synthetic G.711 and telephone-event packets.
def rtp(pt, seq, ts, ssrc, payload, marker=False, csrc=(), ext=None, pad=0):
    b0 = 0x80 | len(csrc) | (0x10 if ext is not None else 0) | (0x20 if pad else 0)
    out = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    for c in csrc:
        out += struct.pack("!I", c)
    if ext is not None:
        out += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    out += payload
    if pad:
        out += b"\0" * (pad - 1) + bytes([pad])
    return out


def records(pkts):
    out = b""
    for h, p in pkts:
        out += bytes([h, min(len(p), 255)]) + p[:255]
    return out


def pcap_udp_payloads(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    endian = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    link = struct.unpack(endian + "I", data[20:24])[0]
    off, out = 24, []
    while off + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ip = frame[14:] if link == 1 else frame[16:] if link == 113 else frame
        if len(ip) < 28 or ip[0] >> 4 != 4:
            continue
        ihl = (ip[0] & 15) * 4
        if ip[9] != 17:
            continue
        out.append(ip[ihl + 8:])
    return out


dtmf_pcaps = sorted(glob.glob("/usr/share/sip-tester/dtmf_2833_*.pcap"))
for path in dtmf_pcaps[:4] + ["/usr/share/sip-tester/g711a.pcap"]:
    if os.path.exists(path):
        pkts = pcap_udp_payloads(path)[:12]
        if pkts:
            put("rtp", bytes([0]) + records([(0x40, p) for p in pkts]))
ulaw = bytes(range(0, 160))
for arrangement in range(16):
    pkts = [(0x40, rtp(0, 1, 160, 0x1111, ulaw, marker=True)),
            (0x41, rtp(8, 1, 160, 0x2222, ulaw)),
            (0x48, rtp(0, 2, 320, 0x1111, ulaw)),
            (0x42, rtp(0, 1, 160, 0x3333, ulaw)),
            (0x40, rtp(101, 3, 480, 0x1111, bytes([5, 10, 0, 160]), marker=True)),
            (0x40, rtp(101, 4, 480, 0x1111, bytes([5, 0x8a, 1, 64]))),
            (0x41, rtp(96, 2, 320, 0x2222, bytes([11, 0x8a, 3, 32, 1, 0x8a, 1, 0]))),
            (0x44, rtp(0, 9, 999, 0x4444, ulaw)),
            (0x40, rtp(0, 5, 640, 0x1111, ulaw[:80], csrc=(1, 2), ext=b"\x10\0\0\0", pad=4)),
            (0x43, rtp(0, 1, 1, 1, b"")),
            (0x40, bytes([0x81, 200, 0, 7]) + b"\0" * 24)]  # RTCP SR
    if arrangement in (0, 1, 2, 3, 4, 8):
        put("rtp", bytes([arrangement]) + records(pkts))
put("rtp", bytes([0]) + records([(0x40, rtp(0, 1, 160, 1, b"", pad=255)), (0x40, rtp(101, 1, 1, 1, b"\x01\x02\x03"))]))

# Configuration: the shipped plan, without its comments, and small edits.
with open(os.path.join(ROOT, "deploy/zhengzhou.toml"), encoding="utf-8") as f:
    plan = f.read()
put("config", plan.encode())
bare = "\n".join(l.split(" #")[0].rstrip() for l in plan.split("\n") if not l.lstrip().startswith("#"))
bare = re.sub(r"\n{2,}", "\n", bare)
put("config", bare.encode())
for a, b in [("[service]", "[servce]"), ('"15s"', '"15 parsecs"'), ("reserved_places = 100", "reserved_places = -1"),
             ("[media]", "[media]\nports = \"20001-20000\""), ("[survey]", "[survey]\nenabled = false"),
             ("topics = [", "topics = [\"general\", "), ("[[lines]]", "[[lines]]\nnumber = \"12345\"")]:
    if a in bare:
        put("config", bare.replace(a, b, 1).encode())
put("config", b"reserved_places = 1\n[service\n")
put("config", b"topics = []\n")


# WAV: small files of each supported format, and near misses.
def wav(fmt_tag, channels, rate, bits, data, extensible=False, extra=b""):
    if extensible:
        fmt = struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
        sub = bytes.fromhex("000010008000") + bytes.fromhex("00aa00389b71")
        fmt += struct.pack("<HHI", 22, bits, 4) + struct.pack("<H", fmt_tag) + sub
    else:
        fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    body += b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


pcm = b"".join(struct.pack("<h", v) for v in (0, 1000, -1000, 32767, -32768, 5, -5, 0))
put("wav", wav(1, 1, 8000, 16, pcm))
put("wav", wav(7, 1, 8000, 8, bytes(range(0, 256, 17))))
put("wav", wav(6, 1, 8000, 8, bytes(range(0, 256, 13))))
put("wav", wav(1, 1, 8000, 16, pcm, extensible=True))
put("wav", wav(1, 1, 8000, 16, pcm, extra=b"LIST" + struct.pack("<I", 5) + b"INFOx\0"))
put("wav", wav(1, 2, 16000, 16, pcm))
put("wav", wav(1, 1, 8000, 16, pcm[:-1]))
put("wav", wav(1, 1, 8000, 16, pcm)[:30])
