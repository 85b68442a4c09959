"""A real SMTP server for tests (aiosmtpd on a local port), recording what it receives."""

import asyncio
import email
import email.policy
import socket

from aiosmtpd.controller import Controller


class Recorder:
    def __init__(self):
        self.messages = []
        self.refuse_next = 0  # answer 451 (try later) to this many messages first
        self.rcpt_answer = ""  # e.g. "450 4.2.0 Greylisted": the answer to every RCPT
        self.mail_answer = ""  # e.g. "530 5.7.0 Authentication required": to every MAIL
        self.data_delay = 0.0  # seconds before answering DATA (the message is taken all the same)
        self.connections = 0  # EHLO greetings: one per connection
        self.data_seen = 0  # messages handed to us, whether or not we answered in time

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_answer:
            return self.mail_answer
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_answer:
            return self.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_seen += 1
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.refuse_next:
            self.refuse_next -= 1
            return "451 Requested action aborted: try again later"
        self.messages.append(
            (envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=email.policy.default))
        )
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.recorder = Recorder()
        self.controller = None

    def start(self):
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self):
        return self.recorder.messages

    def mailers_setting(self, timeout: float = 5):
        return {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": self.port, "timeout": timeout},
            }
        }
