"""SQL rewards: execution accuracy on SQLite (Spider / BIRD style) and Reasoning-SQL's partial rewards.

- ``sql`` (:mod:`.reward`): the predicted and the gold query run on the sample's database in
  bounded worker processes (:mod:`.worker`, run by ``assay.sandbox.pool``; :mod:`.execution`,
  :mod:`.guard`), results compared as multisets or lists (:mod:`.compare`);
- ``sql_syntax``, ``sql_schema_linking``, ``sql_ngram`` (:mod:`.partial`): syntax validity,
  Jaccard of the tables and columns referenced (sqlglot, :mod:`.parsing`), n-gram similarity;
- :mod:`.inputs`: where a sample keeps its query, its gold query and its database.

Nothing here is imported by ``import assay``; sqlglot is imported only by the rewards that parse.
"""
