-- Where the payroll workbook is emailed on the 1st of each month
-- (src/modules/time_tracking/pay/email.rs); NULL: it isn't.
ALTER TABLE time_tracking_settings ADD COLUMN accountant_email TEXT CHECK (length(accountant_email) <= 254);
