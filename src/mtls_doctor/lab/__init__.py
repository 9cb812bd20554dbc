"""The lab: a generated PKI with every broken client case, and real nginx on loopback.

``mtls_doctor.lab.pki`` builds the PKI in memory (``build_lab_pki``) and writes it only when
asked (``LabPKI.write``); the nginx runner and scenarios live beside it.
"""
