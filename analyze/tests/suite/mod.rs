mod sanitize_quality;
