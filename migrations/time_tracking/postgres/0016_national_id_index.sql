-- National ids are encrypted by the app (employees::national_id); this is
-- their blind index: the keyed hash (LOOKUP_KEY) of the normalised id, so
-- an employee is found by national id without it being stored in clear.
-- NULL for no id, and for ids stored before encryption until `rotate-keys`
-- seals them.
ALTER TABLE employees ADD COLUMN national_id_index TEXT;

CREATE INDEX employees_national_id_index ON employees (tenant_id, national_id_index)
    WHERE national_id_index IS NOT NULL;
