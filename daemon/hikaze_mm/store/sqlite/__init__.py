"""The store on one SQLite file. `database` owns the connections, the single writer and its transactions;
`text` the escaping of names that are not UTF-8; `migrations` and `checks` the schema and its soundness. Each
part of the store is its own class over that one database (`pending`, `file_index`, `models`, `copies`, `tags`,
`images`, `search`, `imports`, `sessions`), with the SQL shapes they share in `rows` and `search_index`; `store`
puts them together. Imports only `hikaze_mm.store`.
"""
