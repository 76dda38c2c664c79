"""The API's contract, declared once: every request body and query as a pydantic model.

The handlers validate with these models, and ``meter.http.openapi`` builds `/openapi.json` from
the same models, so what the server enforces and what the spec states cannot drift apart.
"""
