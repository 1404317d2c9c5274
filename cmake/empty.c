/* A module with no sources yet still builds as a library. */
typedef int certhub_empty_translation_unit;
