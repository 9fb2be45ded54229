"""Donations: public pledges, the donor's status page, certificates, the donor wall."""
