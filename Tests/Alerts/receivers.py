#!/usr/bin/env python3
"""The receiving end of the hub's alerts, for the alert test: an SMTP server that requires STARTTLS (aiosmtpd),
an RFC 5424 syslog listener over TCP (RFC 6587 octet counting) and an HTTPS webhook. Each writes what it
received as one JSON line to OUT.

Usage: receivers.py CERT KEY SMTP_PORT SYSLOG_PORT WEBHOOK_PORT OUT   (runs until killed)
"""
import asyncio
import email
import email.policy
import http.server
import json
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller

cert, key, smtp_port, syslog_port, webhook_port, out = sys.argv[1:7]
# The test stops it with SIGTERM, which a process started from the test runner inherits blocked.
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
lock = threading.Lock()


def record(kind, **fields):
    with lock, open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps({"kind": kind, **fields}, ensure_ascii=False) + "\n")


tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(cert, key)


class Mail:
    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        record("mail", tls=session.ssl is not None, mail_from=envelope.mail_from, rcpt=envelope.rcpt_tos,
               subject=str(message["subject"]), charset=message.get_content_charset(),
               seven_bit=all(b < 0x80 for b in raw), body=message.get_content())
        return "250 OK"


smtp = Controller(Mail(), hostname="127.0.0.1", port=int(smtp_port), tls_context=tls, require_starttls=True)
smtp.start()


class Webhook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        record("webhook", path=self.path, content_type=self.headers.get("Content-Type"), body=json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


web = http.server.ThreadingHTTPServer(("127.0.0.1", int(webhook_port)), Webhook)
web.socket = tls.wrap_socket(web.socket, server_side=True)
threading.Thread(target=web.serve_forever, daemon=True).start()


async def syslog(reader, writer):
    data = await reader.read()
    while data:
        length, _, rest = data.partition(b" ")
        size = int(length)
        record("syslog", message=rest[:size].decode("utf-8"))
        data = rest[size:]
    writer.close()


async def main():
    server = await asyncio.start_server(syslog, "127.0.0.1", int(syslog_port))
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
