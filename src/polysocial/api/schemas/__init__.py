"""Request and response bodies, one module per capability (the same split as services/ and the relational
transaction's verbs). Requests refuse unknown fields (422), and public bodies carry no secrets and no server-owned
fields a client could set (ids, timestamps, balances are answers, never inputs)."""
