"""The campaign rules (SPEC 4): what makes each builder section valid, as plain functions over
parsed values. The builder's forms call them from `clean`; publish calls them on the saved campaign."""
