"""Schemathesis hooks (SCHEMATHESIS_HOOKS): raw RFC 5322 messages to fuzz the MIME endpoint with,
from well-formed to broken: headers with odd values, missing parts, binary noise."""

import schemathesis
from hypothesis import strategies as st

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
header_line = st.builds(
    lambda name, value: f"{name}: {value}",
    st.sampled_from(
        [
            "From",
            "To",
            "Subject",
            "Message-ID",
            "In-Reply-To",
            "References",
            "Auto-Submitted",
            "Content-Type",
            "Content-Transfer-Encoding",
            "Return-Path",
            "X-Autoreply",
            "Precedence",
        ]
    ),
    text,
)
message = st.builds(
    lambda headers, body: ("\r\n".join(headers) + "\r\n\r\n" + body).encode("utf-8"),
    st.lists(header_line, max_size=12),
    text,
)
schemathesis.openapi.media_type("message/rfc822", st.one_of(message, st.binary(max_size=4000)))
